#include "train/evaluate.h"

#include "data/loader.h"
#include "engine/autograd/node.h"
#include "engine/ops.h"

namespace sire::train {

Evaluation evaluate(models::Model& model, const data::DatasetPtr& data,
                    const data::Transform& transform, Device device, int workers, int64_t batch) {
  NoGradGuard no_grad;
  const bool was_training = model.net().is_training();
  model.net().eval();
  data::LoaderOptions lo;
  lo.batch_size = batch;
  lo.shuffle = false;
  lo.workers = workers;
  data::DataLoader loader(data, transform, lo);
  loader.start_epoch(0);
  Evaluation e;
  data::Batch b;
  while (loader.next(b)) {
    const Variable x(b.images.to(device));
    const Variable logits = model.forward(x, true).logits;
    const double ce = ops::cross_entropy(logits, b.labels.to(device)).data().to(Device::CPU).item();
    e.ce += ce * static_cast<double>(b.size());
    e.top.add(logits.data().to(Device::CPU), b.labels);
  }
  if (e.top.count) e.ce /= static_cast<double>(e.top.count);
  model.net().train(was_training);
  return e;
}

data::Transform eval_transform(const Checkpoint& c) {
  const std::string& path = c.file.path;
  SIRE_CHECK(c.extra.count("data"), path, ": no data transform in its metadata");
  return with_context(path, [&] {
    const nlohmann::json& d = c.extra.at("data");
    data::TransformOptions t;
    t.mean = d.at("mean").get<std::vector<float>>();
    t.std = d.at("std").get<std::vector<float>>();
    t.pad = d.at("pad");
    return data::Transform(t);
  });
}

}  // namespace sire::train
