// The CUDA backend against the CPU backend (the reference): every op of the table in
// tests/support/op_cases.cpp, forward and every input gradient, on the same f32 inputs; a whole
// training step of a small conv net; the allocator, errors and determinism. Every block the CUDA
// allocator hands out is filled with NaN first (set_poison_allocations), so an output element a
// kernel fails to write shows up as a mismatch. Exits 77 (skipped) when there is no GPU.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "engine/backend.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/optim/sgd.h"
#include "engine/random.h"
#include "kernels/cpu/conv_winograd.h"
#include "kernels/cuda/runtime.h"
#include "tests/support/cuda_compare.h"
#include "tests/support/op_cases.h"
#include "tests/support/reference.h"

using namespace sire;
using testing::OpCase;
using testing::random_tensor;
using namespace sire::testing::gpu;

namespace {

// The CPU side is the reference: its direct kernels, which round as FP32's direct sum does, not
// Winograd (by default at 64 channels and more), whose rounding error is 10-20x larger.
const bool kDirectReference = [] {
  cpu::set_winograd_use(cpu::WinogradUse::kOff);
  return true;
}();

void compare_on_gpu(const OpCase& c, const Tolerance& fwd, const Tolerance& bwd) {
  INFO(c.name);
  std::vector<Variable> vc, vg;
  for (const Tensor& t : c.inputs) {
    vc.emplace_back(t, t.dtype() != DType::I32);
    vg.emplace_back(t.to(Device::CUDA), t.dtype() != DType::I32);
  }
  Variable yc = c.run(vc), yg = c.run(vg);
  REQUIRE(yg.device() == Device::CUDA);
  CHECK(close(yg.data(), yc.data(), fwd));
  const Tensor g = random_tensor(yc.shape(), DType::F32, 11);
  yc.backward(g);
  yg.backward(g.to(Device::CUDA));
  for (size_t j = 0; j < vc.size(); ++j) {
    if (!vc[j].requires_grad()) continue;
    INFO("gradient of input " << j);
    REQUIRE(vg[j].has_grad());
    CHECK(close(vg[j].grad(), vc[j].grad(), bwd));
  }
}

struct StagingGuard {
  explicit StagingGuard(cuda::Staging st) : before(cuda::conv_staging()) {
    cuda::set_conv_staging(st);
  }
  ~StagingGuard() { cuda::set_conv_staging(before); }
  cuda::Staging before;
};

// Output and every input gradient of an op case on the GPU, as host vectors.
std::vector<std::vector<double>> run_on_gpu(const OpCase& c) {
  std::vector<Variable> v;
  for (const Tensor& t : c.inputs) v.emplace_back(t.to(Device::CUDA), t.dtype() != DType::I32);
  Variable y = c.run(v);
  std::vector<std::vector<double>> out{y.data().to(Device::CPU).to_vector()};
  y.backward(random_tensor(y.shape(), DType::F32, 11).to(Device::CUDA));
  for (const Variable& x : v)
    if (x.requires_grad()) out.push_back(x.grad().to(Device::CPU).to_vector());
  return out;
}

}  // namespace

TEST_CASE("poisoned allocations read back as NaN", "[quick]") {
  const Tensor t = Tensor::empty({3, 5}, DType::F32, Device::CUDA).to(Device::CPU);
  for (double v : t.to_vector()) CHECK(std::isnan(v));
}

TEST_CASE("small op cases match the CPU in FP32, forward and backward", "[quick]") {
  MathGuard fp32(cuda::Math::kFP32);
  for (const OpCase& c : testing::op_cases(DType::F32))
    if (c.gradcheck) compare_on_gpu(c, kFp32Forward, kFp32Backward);
}

// A few convolutions in both maths and both stagings: short enough for compute-sanitizer's
// racecheck, which watches the shared-memory staging of the GEMM mainloops.
TEST_CASE("small convolutions in FP32, TF32 and 3xTF32", "[sanitize]") {
  for (cuda::Staging st : {cuda::Staging::kPipelined, cuda::Staging::kRegisters})
    for (cuda::Math m : {cuda::Math::kFP32, cuda::Math::kTF32, cuda::Math::kTF32x3}) {
      StagingGuard staging(st);
      MathGuard guard(m);
      INFO(cuda::staging_name(st) << ", " << cuda::math_name(m));
      int convs = 0, transposed = 0;
      for (const OpCase& c : testing::op_cases(DType::F32)) {
        const bool pick =
            c.gradcheck && ((c.name.rfind("conv2d", 0) == 0 && convs++ < 2) ||
                            (c.name.rfind("conv_transpose2d", 0) == 0 && transposed++ < 2));
        if (pick)  // 3xTF32 is held to FP32's tolerances
          compare_on_gpu(c, m == cuda::Math::kTF32 ? kTf32 : kFp32Forward,
                         m == cuda::Math::kTF32 ? kTf32 : kFp32Backward);
      }
    }
}

// The two ways of staging the operands feed the same products to the same accumulators in the
// same order: every convolution, at every size of the op table, gives the same bits either way.
TEST_CASE("pipelined and register-staged convolutions give the same bits", "[quick]") {
  for (cuda::Math m : {cuda::Math::kFP32, cuda::Math::kTF32, cuda::Math::kTF32x3}) {
    MathGuard guard(m);
    for (const OpCase& c : testing::op_cases(DType::F32)) {
      if (c.name.rfind("conv", 0) != 0) continue;
      INFO(c.name << ", " << cuda::math_name(m));
      std::vector<std::vector<double>> a, b;
      {
        StagingGuard st(cuda::Staging::kPipelined);
        a = run_on_gpu(c);
      }
      {
        StagingGuard st(cuda::Staging::kRegisters);
        b = run_on_gpu(c);
      }
      REQUIRE(a.size() == b.size());
      for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == b[i]);
    }
  }
}

TEST_CASE("batch 1 and batch 64 op cases match the CPU in FP32", "[large]") {
  MathGuard fp32(cuda::Math::kFP32);
  for (const OpCase& c : testing::op_cases(DType::F32))
    if (!c.gradcheck) compare_on_gpu(c, kFp32Forward, kFp32Backward);
}

// The ops whose arithmetic TF32 changes: convolutions (ours) and dense layers (cuBLAS). Chains
// through max pooling are left to the FP32 tests: TF32's rounding may flip a near-tie of a
// pooling window, which routes a gradient elsewhere, correctly but not comparably.
TEST_CASE("convolutions and dense layers match the CPU in TF32 within TF32's rounding", "[tf32]") {
  MathGuard tf32(cuda::Math::kTF32);
  for (const OpCase& c : testing::op_cases(DType::F32, 5))
    if (c.name.rfind("conv", 0) == 0 || c.name.rfind("linear", 0) == 0)
      compare_on_gpu(c, kTf32, kTf32);
}

// 3xTF32 claims FP32's accuracy from the tensor cores: every convolution of the op table, at
// every size, within the FP32 tolerances (dense layers run in FP32 under it).
TEST_CASE("convolutions in 3xTF32 match the CPU within FP32's tolerances", "[quick]") {
  MathGuard three(cuda::Math::kTF32x3);
  for (const OpCase& c : testing::op_cases(DType::F32))
    if (c.name.rfind("conv", 0) == 0 || c.name.rfind("linear", 0) == 0)
      compare_on_gpu(c, kFp32Forward, kFp32Backward);
}

// Backend::sgd_update_all launches once for up to 32 parameters; it must give the bits of one
// sgd_update per parameter: 70 parameters (3 launches), odd sizes, one of 3 million floats (so
// that threads take several grid-stride turns), some starting one float into their storage (not
// 16-byte aligned); momentum with Nesterov, with dampening, and none; two steps, in the first of
// which some buffers are fresh and some are not.
TEST_CASE("SGD over many parameters in one launch gives the per-parameter bits", "[sgd]") {
  Backend& be = backend_for(Device::CUDA);
  const int count = 70;
  SgdStep nesterov, damped, plain;
  nesterov.lr = 0.05, nesterov.momentum = 0.9, nesterov.weight_decay = 5e-4;
  nesterov.nesterov = true;
  damped.lr = 0.1, damped.momentum = 0.8, damped.dampening = 0.25, damped.weight_decay = 1e-3;
  plain.lr = 0.01, plain.weight_decay = 5e-4;
  for (const SgdStep& st : {nesterov, damped, plain}) {
    const bool momentum = st.momentum != 0.0;
    INFO("momentum " << st.momentum << ", dampening " << st.dampening << ", nesterov "
                     << st.nesterov);
    std::vector<Tensor> p1, p2, g, b1, b2;
    for (int i = 0; i < count; ++i) {
      const int64_t n = i == 5 ? 3'000'001 : (i * 379) % 2000 + 1, skip = i % 3 == 0 ? 1 : 0;
      const Tensor p = random_tensor({n + skip}, DType::F32, 100 + i).to(Device::CUDA);
      p1.push_back(p.clone().narrow(skip, n + skip));
      p2.push_back(p.clone().narrow(skip, n + skip));
      g.push_back(random_tensor({n}, DType::F32, 300 + i).to(Device::CUDA));
      const Tensor b = random_tensor({n}, DType::F32, 500 + i).to(Device::CUDA);
      b1.push_back(b.clone());
      b2.push_back(b.clone());
    }
    for (int step = 0; step < 2; ++step) {
      std::vector<SgdParam> all;
      for (int i = 0; i < count; ++i) {
        SgdStep one = st;
        one.first = momentum && step == 0 && i % 2 == 0;
        be.sgd_update(p1[i], g[i], momentum ? &b1[i] : nullptr, one);
        all.push_back({&p2[i], &g[i], momentum ? &b2[i] : nullptr, one.first});
      }
      be.sgd_update_all(all, st);
      for (int i = 0; i < count; ++i) {
        INFO("parameter " << i << ", step " << step);
        REQUIRE(p1[i].to(Device::CPU).to_vector() == p2[i].to(Device::CPU).to_vector());
        REQUIRE(b1[i].to(Device::CPU).to_vector() == b2[i].to(Device::CPU).to_vector());
      }
    }
  }
}

// Channels go along a grid's x dimension (2^31 - 1 blocks), not y (65535): a dense layer with
// 70000 outputs (bias_add, its gradient's channel_sum) and a batch norm over 70000 channels.
TEST_CASE("per-channel kernels take more channels than a grid's y dimension", "[quick]") {
  MathGuard fp32(cuda::Math::kFP32);
  const int64_t C = 70000;
  const Tensor x = random_tensor({2, 3}, DType::F32, 51), w = random_tensor({C, 3}, DType::F32, 52);
  const Tensor b = random_tensor({C}, DType::F32, 53),
               z = random_tensor({3, C, 1, 2}, DType::F32, 54);
  const Tensor gamma = random_tensor({C}, DType::F32, 55),
               beta = random_tensor({C}, DType::F32, 56);
  auto run = [&](Device d) {
    Variable xv(x.to(d), true), wv(w.to(d), true), bv(b.to(d), true), zv(z.to(d), true);
    Variable y = ops::linear(xv, wv, bv);
    Variable n = ops::batch_norm(zv, Variable(gamma.to(d), true), Variable(beta.to(d), true),
                                 nullptr, nullptr, true, 0.1, 1e-5);
    ops::add(ops::sum(ops::relu(y)), ops::sum(ops::relu(n))).backward();
    return std::vector<Tensor>{y.data().to(Device::CPU), n.data().to(Device::CPU),
                               bv.grad().to(Device::CPU), zv.grad().to(Device::CPU)};
  };
  const std::vector<Tensor> cpu = run(Device::CPU), gpu = run(Device::CUDA);
  for (size_t i = 0; i < cpu.size(); ++i) {
    INFO("output " << i);
    CHECK(close(gpu[i], cpu[i], i < 2 ? kFp32Forward : kFp32Backward));
  }
}

// A gradient's several contributions summed in one launch (up to 8 a launch): the CPU's bits,
// which are the pairwise adds' bits, with 11 inputs (two launches), in place into the first, and
// with one input a float off 16-byte alignment (the one-float-at-a-time kernel).
TEST_CASE("add_n gives the CPU's bits", "[quick]") {
  for (bool misaligned : {false, true}) {
    INFO("an input off 16-byte alignment: " << misaligned);
    std::vector<Tensor> cpu, gpu;
    for (int i = 0; i < 11; ++i) {
      const int64_t n = 100'003, skip = misaligned && i == 4 ? 1 : 0;
      const Tensor t = random_tensor({n + skip}, DType::F32, 300 + i).narrow(skip, n + skip);
      cpu.push_back(t.clone());
      gpu.push_back(t.to(Device::CUDA));
    }
    std::vector<const Tensor*> pc, pg;
    for (size_t i = 0; i < cpu.size(); ++i) pc.push_back(&cpu[i]), pg.push_back(&gpu[i]);
    Tensor want = Tensor::empty(cpu[0].shape());
    cpu_backend().add_n(pc, want);
    Tensor got = Tensor::empty(gpu[0].shape(), DType::F32, Device::CUDA);
    backend_for(Device::CUDA).add_n(pg, got);
    CHECK(std::memcmp(got.to(Device::CPU).raw_data(), want.raw_data(), want.nbytes()) == 0);
    backend_for(Device::CUDA).add_n(pg, gpu[0]);  // into the first term
    CHECK(std::memcmp(gpu[0].to(Device::CPU).raw_data(), want.raw_data(), want.nbytes()) == 0);
  }
}

// The reductions behind the trainer's gradient statistics: |g| for the gradient-flow plot, g^2 for
// the norm that gradient clipping caps. Different summation orders: close, not the same bits.
// Sizes from one block to 1024 blocks of several thousand values; the same bits when run again.
TEST_CASE("sum_abs and sum_squares match the CPU", "[quick]") {
  for (int64_t n : {int64_t{1}, int64_t{1000}, int64_t{1'000'003}, int64_t{4'194'305}}) {
    INFO(n << " elements");
    const Tensor x = random_tensor({n}, DType::F32, 11);
    const Tensor xg = x.to(Device::CUDA);
    Tensor want = Tensor::empty({}), got = Tensor::empty({}, DType::F32, Device::CUDA),
           again = Tensor::empty({}, DType::F32, Device::CUDA);
    cpu_backend().sum_abs(x, want);
    backend_for(Device::CUDA).sum_abs(xg, got);
    backend_for(Device::CUDA).sum_abs(xg, again);
    CHECK(got.to(Device::CPU).item() == Approx(want.item()).epsilon(1e-5));
    CHECK(again.to(Device::CPU).item() == got.to(Device::CPU).item());
    cpu_backend().sum_squares(x, want);
    backend_for(Device::CUDA).sum_squares(xg, got);
    CHECK(got.to(Device::CPU).item() == Approx(want.item()).epsilon(1e-5));
  }
}

TEST_CASE("host <-> device copies round-trip and are counted", "[quick]") {
  const Tensor a = random_tensor({4, 7, 3}, DType::F32, 3);
  const int64_t before = transfer_bytes();
  const Tensor g = a.to(Device::CUDA);
  const Tensor back = g.clone().to(Device::CPU);
  CHECK(transfer_bytes() - before == 2 * static_cast<int64_t>(a.nbytes()));
  CHECK(back.to_vector() == a.to_vector());
  const Tensor labels = Tensor::from_vector({3}, std::vector<int32_t>{4, -2, 7});
  CHECK(labels.to(Device::CUDA).to(DType::F32).to(Device::CPU).to_vector() ==
        std::vector<double>{4, -2, 7});
}

TEST_CASE("kernels refuse f64 and name the op and the tensor", "[quick]") {
  const Variable x(Tensor::empty({2, 3}, DType::F64, Device::CUDA));
  CHECK_THROWS_WITH(ops::relu(x), Catch::Contains("relu") && Catch::Contains("f64[2, 3] on cuda"));
}

// The label check is deferred to where the host waits for the GPU anyway (a copy to the host,
// synchronize()), and still names the op, the label and the first bad sample.
TEST_CASE("bad labels are reported at the next wait, naming the first bad sample", "[quick]") {
  const Variable logits(random_tensor({3, 7}, DType::F32, 4).to(Device::CUDA));
  const Tensor good = Tensor::from_vector({3}, std::vector<int32_t>{0, 6, 2}).to(Device::CUDA);
  const Tensor bad = Tensor::from_vector({3}, std::vector<int32_t>{0, 9, -1}).to(Device::CUDA);
  // Catch's `a && b` keeps pointers to a and b: each part must outlive the combined matcher, so
  // none may be a temporary.
  const auto op = Catch::Contains("cross_entropy");
  const auto label = Catch::Contains("label 9 of sample 1");
  const auto range = Catch::Contains("[0, 7)");
  const auto named = op && label && range;
  CHECK_THROWS_WITH(ops::cross_entropy(logits, bad).data().to(Device::CPU), named);
  // Checked once: after the error, good labels read back normally.
  CHECK(std::isfinite(ops::cross_entropy(logits, good).data().to(Device::CPU).item()));
  // Between two waits: a good call, then a bad one; synchronize() reports the bad one.
  ops::cross_entropy(logits, good);
  ops::cross_entropy(logits, bad);
  CHECK_THROWS_WITH(backend_for(Device::CUDA).synchronize(), named);
  // More calls than the device-side slots, none read: the queue is checked when it fills.
  for (int i = 0; i < 200; ++i) ops::cross_entropy(logits, good);
  CHECK_NOTHROW(backend_for(Device::CUDA).synchronize());
  for (int i = 0; i < 100; ++i) ops::cross_entropy(logits, i == 70 ? bad : good);
  CHECK_THROWS_WITH(backend_for(Device::CUDA).synchronize(), named);
  // Until the report, the bad samples' gradient rows are NaN (as their losses are), the good
  // one's are not.
  Variable lv(logits.data(), true);
  ops::cross_entropy(lv, bad).backward();
  CHECK_THROWS_WITH(backend_for(Device::CUDA).synchronize(), named);
  const std::vector<double> dz = lv.grad().to(Device::CPU).to_vector();
  for (int j = 0; j < 7; ++j) {
    CHECK(std::isfinite(dz[j]));
    CHECK(std::isnan(dz[7 + j]));
    CHECK(std::isnan(dz[14 + j]));
  }
}

TEST_CASE("split-K and batch-norm reductions give the same bits every run", "[quick]") {
  MathGuard fp32(cuda::Math::kFP32);
  // A weight gradient with a long reduction (64 x 16 x 16 pixels): the plan splits it.
  const Tensor x = random_tensor({64, 16, 16, 16}, DType::F32, 6).to(Device::CUDA);
  const Tensor w = random_tensor({32, 16, 3, 3}, DType::F32, 7).to(Device::CUDA);
  auto run = [&] {
    Variable xv(x, true), wv(w, true);
    Variable y = ops::batch_norm(ops::conv2d(xv, wv, Variable(), 1, 1),
                                 Variable(Tensor::full({32}, 1.0, DType::F32, Device::CUDA)),
                                 Variable(Tensor::zeros({32}, DType::F32, Device::CUDA)), nullptr,
                                 nullptr, true, 0.1, 1e-5);
    ops::sum(ops::relu(y)).backward();
    std::vector<double> out = wv.grad().to(Device::CPU).to_vector();
    for (double v : xv.grad().to(Device::CPU).to_vector()) out.push_back(v);
    return out;
  };
  CHECK(run() == run());
}

namespace {

// A miniature SIRe network: encoder conv-bn-relu-pool, decoder upsample + transposed conv back
// to the input, classifier with dropout; loss = CE + 0.2 MSE(reconstruction, input).
struct MiniSire {
  std::shared_ptr<nn::Sequential> encoder = std::make_shared<nn::Sequential>();
  std::shared_ptr<nn::Sequential> decoder = std::make_shared<nn::Sequential>();
  std::shared_ptr<nn::Sequential> head = std::make_shared<nn::Sequential>();

  explicit MiniSire(uint64_t seed) {
    manual_seed(seed);
    encoder->add(std::make_shared<nn::Conv2d>(3, 8, 3, 1, 1));
    encoder->add(std::make_shared<nn::BatchNorm2d>(8));
    encoder->add(std::make_shared<nn::ReLU>());
    encoder->add(std::make_shared<nn::MaxPool2d>(2, 2));
    decoder->add(std::make_shared<nn::Upsample>(2));
    decoder->add(std::make_shared<nn::ConvTranspose2d>(8, 3, 3, 1, 1));
    head->add(std::make_shared<nn::Flatten>());
    head->add(std::make_shared<nn::Dropout>(0.3));
    head->add(std::make_shared<nn::Linear>(8 * 8 * 8, 10));
  }
  std::vector<Variable> parameters() const {
    std::vector<Variable> ps;
    for (auto* m : {encoder.get(), decoder.get(), head.get()})
      for (const Variable& p : m->parameters()) ps.push_back(p);
    return ps;
  }
  std::vector<Variable> state() const {
    std::vector<Variable> s = parameters();
    for (auto& [name, b] : encoder->named_buffers()) s.push_back(b);
    return s;
  }
  void to(Device d) {
    for (auto* m : {encoder.get(), decoder.get(), head.get()}) m->to(d);
  }
  Variable loss(const Tensor& x, const Tensor& labels) {
    Variable in(x);
    Variable code = (*encoder)(in);
    Variable rec = (*decoder)(code);
    Variable logits = (*head)(code);
    return ops::add(ops::cross_entropy(logits, labels), ops::scale(ops::mse_loss(rec, in), 0.2));
  }
};

}  // namespace

TEST_CASE("a training step of a small conv net matches the CPU, and allocates nothing once warm",
          "[training]") {
  MathGuard fp32(cuda::Math::kFP32);
  MiniSire cpu(21), gpu(21);
  gpu.to(Device::CUDA);
  optim::Sgd sgd_cpu(cpu.parameters(), {0.05, 0.9, 0, 5e-4, true});
  optim::Sgd sgd_gpu(gpu.parameters(), {0.05, 0.9, 0, 5e-4, true});
  const Tensor x = random_tensor({16, 3, 16, 16}, DType::F32, 22);
  std::vector<int32_t> y(16);
  for (int i = 0; i < 16; ++i) y[i] = (i * 7) % 10;
  const Tensor labels = Tensor::from_vector({16}, y);
  const Tensor xg = x.to(Device::CUDA), labels_g = labels.to(Device::CUDA);
  int64_t mallocs_after_warmup = 0;
  for (int step = 0; step < 4; ++step) {
    INFO("step " << step);
    manual_seed(100 + step);  // the same dropout stream on both devices
    sgd_cpu.zero_grad();
    Variable lc = cpu.loss(x, labels);
    lc.backward();
    sgd_cpu.step();
    manual_seed(100 + step);
    sgd_gpu.zero_grad();
    Variable lg = gpu.loss(xg, labels_g);
    lg.backward();
    sgd_gpu.step();
    CHECK(lg.data().to(Device::CPU).item() == Approx(lc.data().item()).epsilon(1e-4));
    if (step == 1) mallocs_after_warmup = cuda::allocator_stats().device_mallocs;
  }
  CHECK(cuda::allocator_stats().device_mallocs == mallocs_after_warmup);
  const auto sc = cpu.state(), sg = gpu.state();
  REQUIRE(sc.size() == sg.size());
  for (size_t i = 0; i < sc.size(); ++i) {
    INFO("parameter or buffer " << i << " " << sc[i].data().describe());
    CHECK(ref::mismatch(sg[i].data().to(Device::CPU), sc[i].data(), 1e-3, 1e-4) <= 1.0);
  }
}

int main(int argc, char** argv) {
  if (!cuda_available()) {
    std::printf("test_cuda_ops: no CUDA device: skipped\n");
    return 77;
  }
  const cuda::DeviceInfo& d = cuda::device_info();
  std::printf("test_cuda_ops on %s (sm_%d%d, %d SMs)\n", d.name.c_str(), d.major, d.minor,
              d.sm_count);
  cuda::set_poison_allocations(true);
  return Catch::Session().run(argc, argv);
}
