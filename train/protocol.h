// The paper's training protocols (§4.1), by name. Every field can be overridden from the
// command line; docs/sire.md says where the paper is silent and what was chosen.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sire::train {

struct Protocol {
  std::string name;
  int epochs = 1;
  int64_t batch = 64;
  double lr = 0.1, momentum = 0.9, weight_decay = 5e-4;
  bool nesterov = true;
  std::vector<int> milestones;  // epochs (0-based) at which lr is multiplied by gamma
  double gamma = 0.2;
  int64_t train_images = -1;    // > 0: train on the first n images of the training split
  bool hflip = true;            // random horizontal flips ("in all cases")
  std::string select = "val";   // the epoch whose weights are kept: best "val" or best "train"
  double clip_grad_norm = 0;    // > 0: gradients scaled to this global L2 norm at most (not in
                                // the paper; docs/sire.md)
};

// "paper-mnist", "paper-cifar" or "paper-caltech"; an unknown name lists the known ones.
Protocol protocol_named(const std::string& name);
std::vector<std::string> protocol_names();

// A protocol as a run's config.json and checkpoints record it, and back.
nlohmann::json protocol_json(const Protocol& p);
Protocol protocol_from_json(const nlohmann::json& j);

}  // namespace sire::train
