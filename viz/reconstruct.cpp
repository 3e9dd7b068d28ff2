#include "viz/reconstruct.h"

#include <algorithm>

#include "engine/autograd/node.h"
#include "engine/error.h"

namespace sire::viz {
namespace {

// Restores the mode the model had, whatever way the function leaves.
class EvalMode {
 public:
  explicit EvalMode(models::Model& m) : m_(m), was_training_(m.net().is_training()) { m.net().eval(); }
  ~EvalMode() { m_.net().train(was_training_); }
  EvalMode(const EvalMode&) = delete;
  EvalMode& operator=(const EvalMode&) = delete;

 private:
  models::Model& m_;
  bool was_training_;
};

}  // namespace

Reconstructions reconstruct(models::Model& model, const data::Dataset& data,
                            const data::Transform& transform, int64_t start, int64_t count,
                            Device device, int64_t batch) {
  SIRE_CHECK(!model.autoencoders().empty(), "model '", model.spec().name,
             "' has no auto-encoders, so there is nothing to reconstruct (its model file has no ",
             "sire.autoencoders): use a checkpoint of an I-, IRe-, SI- or SIRe- model");
  SIRE_CHECK(count > 0 && batch > 0, "reconstruct: need at least one image, got ", count);
  SIRE_CHECK(start >= 0 && start + count <= data.size(), data.name(), ": images ", start, " to ",
             start + count - 1, " asked for, but it holds ", data.size(), " (0 to ",
             data.size() - 1, ")");
  const data::SampleShape in = data.sample_shape();
  const data::SampleShape s = transform.output_shape(in);
  const Shape want = model.input_shape();
  SIRE_CHECK(want == (Shape{s.channels, s.height, s.width}), data.name(), ": its images are ",
             data::to_string(s), " after the checkpoint's transform, but model '", model.spec().name,
             "' takes ", sire::to_string(want), ": is it the dataset the model was trained on?");

  Reconstructions r;
  r.autoencoders = model.autoencoders();
  const size_t n_ae = r.autoencoders.size();
  const int64_t per = s.numel();
  r.inputs = Tensor::empty({count, s.channels, s.height, s.width});
  for (size_t a = 0; a < n_ae; ++a) r.outputs.push_back(Tensor::empty({count, s.channels, s.height, s.width}));
  r.labels.resize(static_cast<size_t>(count));
  std::vector<uint8_t> raw(static_cast<size_t>(in.numel()));
  float* inputs = r.inputs.data<float>();
  for (int64_t i = 0; i < count; ++i) {
    data.load(start + i, raw.data(), &r.labels[static_cast<size_t>(i)]);
    transform.apply(raw.data(), in, false, inputs + i * per);
  }

  NoGradGuard no_grad;
  EvalMode eval(model);
  for (int64_t b0 = 0; b0 < count; b0 += batch) {
    const int64_t n = std::min(batch, count - b0);
    const Variable x(r.inputs.narrow(b0, b0 + n).clone().to(device));
    const models::ModelOutput out = model.forward(x);
    SIRE_CHECK(out.reconstructions.size() == n_ae, "model '", model.spec().name, "' gave ",
               out.reconstructions.size(), " reconstructions for ", n_ae, " auto-encoders");
    for (size_t a = 0; a < n_ae; ++a) {
      const Tensor rec = out.reconstructions[a].data().to(Device::CPU);
      SIRE_CHECK(rec.numel() == n * per, "auto-encoder ", r.autoencoders[a], " gave ",
                 sire::to_string(rec.shape()), " for an input of ", n, " x ", data::to_string(s));
      std::copy(rec.data<float>(), rec.data<float>() + n * per, r.outputs[a].data<float>() + b0 * per);
    }
  }

  // Sums in double, in a fixed order: the numbers do not depend on the batch size.
  const std::vector<float>& sd = transform.options().std;
  const int64_t plane = int64_t{s.height} * s.width;
  for (size_t a = 0; a < n_ae; ++a) {
    const float* y = r.outputs[a].data<float>();
    double sum = 0, sum_pixels = 0;
    for (int64_t k = 0; k < count * per; ++k) {
      const double d = double(y[k]) - double(inputs[k]);
      const double scale = sd.empty() ? 1.0 : double(sd[static_cast<size_t>((k / plane) % s.channels)]);
      sum += d * d;
      sum_pixels += d * d * scale * scale;
    }
    r.mse.push_back(sum / double(count * per));
    r.mse_pixels.push_back(sum_pixels / double(count * per));
  }
  return r;
}

}  // namespace sire::viz
