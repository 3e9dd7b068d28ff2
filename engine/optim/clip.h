// Gradient clipping by the global L2 norm (PyTorch's clip_grad_norm_): every gradient is scaled
// by max_norm / ||g|| when the norm of all gradients together, ||g||, exceeds max_norm, so the
// step keeps its direction and only its length is capped. Not in the paper: a guard for
// networks whose reconstruction losses make the plain step unstable (docs/sire.md).
#pragma once

#include <vector>

#include "engine/autograd/variable.h"

namespace sire::optim {

// Scales the gradients if their global norm exceeds max_norm (> 0) and returns that norm, as it
// was before scaling. Parameters without a gradient are skipped; the others' gradients must share
// one device and dtype (a mix is refused, naming the parameter). A non-finite norm scales nothing
// and is returned as is: the caller decides what a diverged step means.
double clip_grad_norm(const std::vector<Variable>& params, double max_norm);

// The halves of clip_grad_norm, for a caller that reads the norm back together with other values
// (one device-to-host copy a step): out[i] = sum of the squares of params[i]'s gradient (0 without
// one), `out` a 1-D tensor of params.size() values on the parameters' device...
void grad_squares(const std::vector<Variable>& params, Tensor& out);
// ...and the scaling, given the global norm: returns the factor applied (1 when none was).
double scale_grads_to_norm(const std::vector<Variable>& params, double norm, double max_norm);

}  // namespace sire::optim
