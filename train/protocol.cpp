#include "train/protocol.h"

#include "engine/error.h"

namespace sire::train {

std::vector<std::string> protocol_names() { return {"paper-mnist", "paper-cifar", "paper-caltech"}; }

Protocol protocol_named(const std::string& name) {
  Protocol p;
  p.name = name;
  if (name == "paper-cifar" || name == "paper-caltech") {
    // 200 epochs, SGD lr 0.1, Nesterov 0.9, weight decay 5e-4, lr / 5 at 60, 120, 160.
    p.epochs = 200;
    p.lr = 0.1;
    p.milestones = {60, 120, 160};
    p.gamma = 0.2;
    if (name == "paper-caltech") {
      p.batch = 32;        // the paper uses 32/16/8/4 by model; 32 is the CNN's
      p.select = "train";  // no validation split: the best training epoch
    }
    return p;
  }
  if (name == "paper-mnist") {
    // 5 epochs on the first 1,280 training images, batch 64 (20 steps an epoch). The paper does
    // not give this protocol's learning rate; 0.01 (docs/sire.md: at 0.1 the baseline barely
    // leaves chance on 1,280 images).
    p.epochs = 5;
    p.lr = 0.01;
    p.train_images = 1280;
    return p;
  }
  std::string known;
  for (auto& n : protocol_names()) known += (known.empty() ? "" : ", ") + n;
  SIRE_FAIL("unknown protocol '", name, "' (known: ", known, ")");
}

nlohmann::json protocol_json(const Protocol& p) {
  return {{"name", p.name},
          {"epochs", p.epochs},
          {"batch", p.batch},
          {"lr", p.lr},
          {"momentum", p.momentum},
          {"weight_decay", p.weight_decay},
          {"nesterov", p.nesterov},
          {"milestones", p.milestones},
          {"gamma", p.gamma},
          {"train_images", p.train_images},
          {"hflip", p.hflip},
          {"select", p.select},
          {"clip_grad_norm", p.clip_grad_norm}};
}

Protocol protocol_from_json(const nlohmann::json& j) {
  Protocol p;
  p.name = j.at("name");
  p.epochs = j.at("epochs");
  p.batch = j.at("batch");
  p.lr = j.at("lr");
  p.momentum = j.at("momentum");
  p.weight_decay = j.at("weight_decay");
  p.nesterov = j.at("nesterov");
  p.milestones = j.at("milestones").get<std::vector<int>>();
  p.gamma = j.at("gamma");
  p.train_images = j.at("train_images");
  p.hflip = j.at("hflip");
  p.select = j.at("select");
  p.clip_grad_norm = j.value("clip_grad_norm", 0.0);  // absent before clipping existed: off
  return p;
}

}  // namespace sire::train
