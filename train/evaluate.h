// Evaluation: the classifier alone (no decoders), in evaluation mode, without gradients.
#pragma once

#include <string>

#include "data/dataset.h"
#include "data/transform.h"
#include "models/model.h"
#include "train/checkpoint.h"
#include "train/metrics.h"

namespace sire::train {

struct Evaluation {
  double ce = 0;  // mean cross-entropy
  TopK top;
};

Evaluation evaluate(models::Model& model, const data::DatasetPtr& data,
                    const data::Transform& transform, Device device, int workers,
                    int64_t batch = 256);

// The transform a checkpoint's model was trained with (its "data" metadata), without flips.
data::Transform eval_transform(const Checkpoint& checkpoint);

}  // namespace sire::train
