// One-token (decode-step) attention over a float32 KV cache, on the CPU: the flywheel::decode_attention op.
//
// Row b, head h: softmax(q[b, h] . k[b, h, j] * scale) over j = 0..last[b], weighted sum of v[b, h, j].
// Each row reads only its own positions, with no mask, and every (row, head) is one serial pass in a
// fixed order: a row's result never depends on what else shares its batch, or on the thread count.
// Built by flywheel/model/kernels.py (torch's C++ extension loader); flywheel/model/decode.py says why.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

// Work below this many cached values (keys and values of every (row, head), each head_dim wide)
// runs on the calling thread: a batch-1 step's heads are cheaper than waking a worker.
constexpr int64_t kSerialValues = 1 << 16;

void attend_one(const float* q, const float* k, const float* v, int64_t n, int64_t D,
                int64_t k_step, int64_t v_step, float scale, float* scores, float* out) {
  float top = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    const float* kj = k + j * k_step;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t d = 0; d < D; ++d) s += q[d] * kj[d];
    s *= scale;
    scores[j] = s;
    top = std::max(top, s);
  }
  float total = 0.f;
  for (int64_t j = 0; j < n; ++j) {
    scores[j] = std::exp(scores[j] - top);
    total += scores[j];
  }
  std::fill(out, out + D, 0.f);
  for (int64_t j = 0; j < n; ++j) {
    const float* vj = v + j * v_step;
    const float p = scores[j];
#pragma omp simd
    for (int64_t d = 0; d < D; ++d) out[d] += p * vj[d];
  }
  const float inv = 1.f / total;
  for (int64_t d = 0; d < D; ++d) out[d] *= inv;
}

// q (B, H, D), k and v (B, H, S, D) float32 with unit stride on D (any other strides: cache views);
// last (B,) int64, each in [0, S): the position of row b's newest key. Returns (B, H, D) float32.
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& last, double scale) {
  TORCH_CHECK(q.device().is_cpu() && k.device().is_cpu() && v.device().is_cpu() && last.device().is_cpu(),
              "decode_attention runs on the CPU");
  TORCH_CHECK(q.dim() == 3 && k.dim() == 4 && v.dim() == 4, "decode_attention: q (B, H, D), k and v (B, H, S, D)");
  TORCH_CHECK(q.scalar_type() == at::kFloat && k.scalar_type() == at::kFloat && v.scalar_type() == at::kFloat,
              "decode_attention: q, k and v must be float32");
  const int64_t B = q.size(0), H = q.size(1), D = q.size(2), S = k.size(2);
  TORCH_CHECK(k.sizes() == v.sizes() && k.size(0) == B && k.size(1) == H && k.size(3) == D,
              "decode_attention: k and v must be (B, H, S, D) for q (B, H, D)");
  TORCH_CHECK(q.stride(2) == 1 && k.stride(3) == 1 && v.stride(3) == 1,
              "decode_attention: head_dim must be contiguous");
  TORCH_CHECK(last.scalar_type() == at::kLong && last.dim() == 1 && last.size(0) == B,
              "decode_attention: last must be (B,) int64");
  const at::Tensor last_c = last.contiguous();
  const int64_t* last_p = last_c.data_ptr<int64_t>();
  int64_t longest = 0;
  for (int64_t b = 0; b < B; ++b) {
    TORCH_CHECK(last_p[b] >= 0 && last_p[b] < S, "decode_attention: last[", b, "] = ", last_p[b],
                " is outside the cache's ", S, " positions");
    longest = std::max(longest, last_p[b] + 1);
  }
  at::Tensor out = at::empty({B, H, D}, q.options().memory_format(at::MemoryFormat::Contiguous));
  const float* qp = q.data_ptr<float>();
  const float* kp = k.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const int64_t qs0 = q.stride(0), qs1 = q.stride(1);
  const int64_t ks0 = k.stride(0), ks1 = k.stride(1), ks2 = k.stride(2);
  const int64_t vs0 = v.stride(0), vs1 = v.stride(1), vs2 = v.stride(2);
  const float fscale = static_cast<float>(scale);
  const int64_t per_head = 2 * longest * D;
  const int64_t grain = B * H * per_head < kSerialValues ? B * H + 1 : std::max<int64_t>(1, kSerialValues / 8 / per_head);
  at::parallel_for(0, B * H, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(longest);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / H, h = i % H;
      attend_one(qp + b * qs0 + h * qs1, kp + b * ks0 + h * ks1, vp + b * vs0 + h * vs1, last_p[b] + 1, D,
                 ks2, vs2, fscale, scores.data(), op + i * D);
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY(flywheel, m) {
  m.def("decode_attention(Tensor q, Tensor k, Tensor v, Tensor last, float scale) -> Tensor");
  m.impl("decode_attention", c10::DispatchKey::CPU, TORCH_FN(decode_attention));
}
