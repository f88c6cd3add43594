"""The data layer: cleaning, dedup, tokenisation and the shard channels the training job reads."""
