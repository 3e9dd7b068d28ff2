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

}  // namespace sire::train
