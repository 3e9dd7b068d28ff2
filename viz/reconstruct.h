// Running a SIRe model's auto-encoders on a few images of a dataset: the inputs as the network
// saw them, each auto-encoder's reconstruction, and how far apart they are (what `sire recon`
// draws and prints; the paper's Fig. 2).
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "data/transform.h"
#include "engine/device.h"
#include "engine/tensor.h"
#include "models/model.h"

namespace sire::viz {

struct Reconstructions {
  Tensor inputs;                 // [N, C, H, W] on the CPU, in network units (normalized, padded)
  std::vector<Tensor> outputs;   // one [N, C, H, W] per auto-encoder, Model::autoencoders() order
  std::vector<int> autoencoders; // their numbers (AE_i follows the i-th downsampling point)
  std::vector<int32_t> labels;   // the N images' labels
  // Per auto-encoder, over every pixel and channel of the N images:
  std::vector<double> mse;         // in network units: the loss's MSE term (docs/sire.md)
  std::vector<double> mse_pixels;  // after de-normalization, in [0, 1] pixel units (unclamped)
};

// Images start .. start + count - 1 of `data`, through `transform` (no flips), through the
// model in evaluation mode without gradients, `batch` images at a time. Throws when the model
// has no auto-encoders, the range is outside the dataset, or the transformed images do not
// have the model's input shape. The model's train/eval mode is restored afterwards.
Reconstructions reconstruct(models::Model& model, const data::Dataset& data,
                            const data::Transform& transform, int64_t start, int64_t count,
                            Device device, int64_t batch = 64);

}  // namespace sire::viz
