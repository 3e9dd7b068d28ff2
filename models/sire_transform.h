// The SIRe transform (paper §3.2; docs/sire.md): from a backbone whose layers mark their
// downsampling points ("downsample": true) to the SIRe network.
//  - Re: optional shortcuts ("shortcut" layers with "optional": true) stay when
//    sire.residual is on and are removed (their consumers rewired) when it is off.
//  - I: for each selected point i, an auto-encoder AE_i inverts the path from the input to that
//    point, unit by unit in reverse: a conv unit (conv [+ bn] [+ relu]) becomes a transposed conv
//    unit, a max-pool an upsample to the exact pre-pool size, a residual block a transposed
//    residual block, an inception an inverted inception. The last layer of each AE is linear and
//    gives a reconstruction of the network's input.
//  - S: with sire.skips, the output of every unit on the path is added to the decoder at the
//    mirrored position (the input of that unit's inverse... i.e. the decoder tensor of the same
//    shape), except at the reconstruction and at the attachment point itself.
// One mechanism for every backbone: it needs only each layer type's `invert` and `role`.
#pragma once

#include <string>
#include <vector>

#include "models/graph.h"
#include "models/spec.h"

namespace sire::models {

struct SireNetwork {
  std::vector<LayerSpec> layers;              // the backbone (shortcuts resolved) + decoders
  std::vector<int> autoencoders;              // the AE numbers built, in order
  std::vector<std::string> reconstructions;   // each AE's last layer
  std::vector<std::string> downsample_points; // every marked point of the backbone, in order
};

SireNetwork apply_sire(const ModelSpec& spec, const BuildContext& ctx);

}  // namespace sire::models
