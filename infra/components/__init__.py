"""One ComponentResource per layer: DataLake, Registry, Network, Training, Serving, Api, Observability.

Each module opens with a frozen dataclass of args, then the component; layers take each other's outputs
as args, never each other's objects.
"""
