// `sire recon`: the paper's Fig. 2 for a checkpoint. One row per image: the input as the
// network saw it, then every auto-encoder's reconstruction, written as one PNG; and each
// auto-encoder's MSE over those images.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "apps/args.h"
#include "apps/commands.h"
#include "data/datasets.h"
#include "engine/backend.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "viz/image_grid.h"
#include "viz/reconstruct.h"

namespace sire::app {

int run_recon(const std::vector<std::string>& argv) {
  Args args("recon", "Draw a checkpoint's auto-encoder reconstructions next to their inputs "
                     "(one row per image) as a PNG, and print each auto-encoder's MSE.");
  args.option("checkpoint", "a best.safetensors or last.safetensors of `sire train`")
      .option("data", "the dataset folder", "/usr/share/datasets/fashion-mnist")
      .option("dataset", "the dataset's name, or auto", "auto")
      .option("split", "test, val or train", "test")
      .option("split-seed", "seed of the stratified splits (as in training)", "0")
      .option("val-size", "images held out for validation, as in training (default: the dataset's)")
      .option("images", "how many images (rows)", "8")
      .option("start", "index of the first image in the split", "0")
      .option("out", "the PNG to write", "recon.png")
      .option("scale", "integer upscale of every image (nearest), or auto: 32x32 -> 4", "auto")
      .option("gap", "white separator between cells, in pixels", "2")
      .option("device", "cpu or cuda", "cpu")
      .option("threads", "CPU threads (0: all cores)", "0")
      .flag("json", "print a JSON object");
  if (!args.parse(argv)) {
    std::cout << args.usage();
    return 0;
  }
  SIRE_CHECK(args.has("checkpoint"), "sire recon: --checkpoint is required\n\n", args.usage());
  set_cpu_threads(static_cast<int>(args.get_int("threads")));
  const std::string path = args.get("checkpoint");
  const train::Checkpoint c = train::read_checkpoint(path);
  SIRE_CHECK(c.extra.count("data"), path, ": no data transform in its metadata");
  models::Model model = train::model_from_metadata(c.model, path);
  SIRE_CHECK(!model.autoencoders().empty(), path, ": model '", model.spec().name,
             "' has no auto-encoders, so there is nothing to reconstruct; sire recon needs a ",
             "checkpoint of a model with a sire.autoencoders list (I-, IRe-, SI- or SIRe-)");
  const Device device = parse_device(args.get("device"));
  model.net().to(device);
  train::load_model_state(model, c.file);

  const int64_t count = args.get_int("images"), start = args.get_int("start");
  SIRE_CHECK(count > 0, "sire recon: --images must be positive, got ", count);
  data::SplitOptions so;
  so.seed = static_cast<uint64_t>(args.get_int("split-seed"));
  if (auto v = args.maybe_int("val-size")) so.val_size = *v;
  const data::DatasetSplits splits = data::dataset_from_dir(args.get("dataset"), args.get("data"), so);
  const std::string trained_on =
      with_context(path, [&] { return c.extra.at("data").value("dataset", std::string()); });
  if (!trained_on.empty() && trained_on != splits.name)
    std::fprintf(stderr, "sire recon: warning: %s was trained on %s, these images are %s\n",
                 path.c_str(), trained_on.c_str(), splits.name.c_str());
  const std::string split = args.get("split");
  const data::DatasetPtr d = splits.get(split);
  const data::Transform transform = train::eval_transform(c);
  // The grid first: a request too large for one PNG is refused before the model runs.
  const data::SampleShape shape = transform.output_shape(d->sample_shape());
  viz::GridLayout l;
  l.rows = static_cast<int>(std::min<int64_t>(count, 1 << 20));
  l.cols = 1 + static_cast<int>(model.autoencoders().size());
  l.channels = shape.channels;
  l.cell_height = shape.height;
  l.cell_width = shape.width;
  l.scale = args.get("scale") == "auto" ? viz::auto_scale(l.cell_height, l.cell_width)
                                        : static_cast<int>(args.get_int("scale"));
  l.gap = static_cast<int>(args.get_int("gap"));
  viz::ImageGrid grid(l);
  const viz::Reconstructions r = viz::reconstruct(model, *d, transform, start, count, device);
  const std::vector<float>& mean = transform.options().mean;
  const std::vector<float>& sd = transform.options().std;
  const int64_t per = r.inputs.numel() / count;
  for (int i = 0; i < l.rows; ++i) {
    grid.draw(i, 0, r.inputs.data<float>() + i * per, mean, sd);
    for (size_t a = 0; a < r.outputs.size(); ++a)
      grid.draw(i, static_cast<int>(a) + 1, r.outputs[a].data<float>() + i * per, mean, sd);
  }
  const std::string out = args.get("out");
  grid.write_png(out);

  std::vector<std::string> columns{"input"};
  for (int ae : r.autoencoders) columns.push_back("ae" + std::to_string(ae));
  if (args.get_flag("json")) {
    nlohmann::json mse = nlohmann::json::object(), mse_pixels = nlohmann::json::object();
    for (size_t a = 0; a < r.autoencoders.size(); ++a) {
      mse[columns[a + 1]] = r.mse[a];
      mse_pixels[columns[a + 1]] = r.mse_pixels[a];
    }
    std::cout << nlohmann::json{{"checkpoint", path}, {"model", model.spec().name},
                                {"dataset", splits.name}, {"split", split}, {"start", start},
                                {"images", count}, {"labels", r.labels}, {"out", out},
                                {"width", l.width()}, {"height", l.height()}, {"scale", l.scale},
                                {"columns", columns}, {"mse", mse}, {"mse_pixels", mse_pixels}}
                     .dump(2)
              << "\n";
  } else {
    std::printf("%s on %s %s, images %lld to %lld: wrote %s (%d x %d pixels; columns:",
                model.spec().name.c_str(), splits.name.c_str(), split.c_str(),
                static_cast<long long>(start), static_cast<long long>(start + count - 1),
                out.c_str(), l.width(), l.height());
    for (const std::string& col : columns) std::printf(" %s", col.c_str());
    std::printf(")\nMSE over the %lld images, in network units (the loss's term) and in [0,1] pixels:\n",
                static_cast<long long>(count));
    for (size_t a = 0; a < r.autoencoders.size(); ++a)
      std::printf("  AE%d  %.6f  %.6f\n", r.autoencoders[a], r.mse[a], r.mse_pixels[a]);
  }
  return 0;
}

}  // namespace sire::app
