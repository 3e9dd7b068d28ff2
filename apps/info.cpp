// `sire info MODEL.json`: the layers of a model (with the SIRe transform applied), their
// output shapes and parameter counts.
#include <iostream>

#include "apps/args.h"
#include "apps/commands.h"
#include "engine/nn/init.h"
#include "models/model.h"

namespace sire::app {

int run_info(const std::vector<std::string>& argv) {
  Args args("info", "Print a model's layers, output shapes and trainable parameter counts.");
  args.positional("MODEL.json", "the model file")
      .option("classes", "number of classes (default: the model file's)")
      .option("input", "input shape C,H,W (default: the model file's)")
      .option("lambda", "weight of the reconstruction losses (default: the file's sire.lambda)")
      .option("decoder-init", "decoder initialization: fan_in or pytorch (default: the file's)")
      .flag("json", "print a JSON object; its \"params\" field is the total")
      .flag("spec", "print the model back as a model file, the SIRe decoders written out");
  if (!args.parse(argv)) {
    std::cout << args.usage();
    return 0;
  }
  models::ModelOptions o;
  o.classes = args.maybe_int("classes");
  o.input = args.maybe_shape("input");
  o.lambda = args.maybe_double("lambda");
  if (args.has("decoder-init")) o.decoder_init = args.get("decoder-init");
  nn::init::SkipGuard no_init;  // counting needs the structure, not the weights
  const models::Model m = models::Model::load(args.get("MODEL.json"), o);
  if (args.get_flag("spec")) {
    std::cout << m.spec_json().dump(2) << "\n";
    return 0;
  }
  if (args.get_flag("json")) {
    std::cout << m.info_json().dump(2) << "\n";
    return 0;
  }
  std::cout << m.spec().name << ": input " << to_string(m.input_shape()) << ", " << m.classes()
            << " classes";
  if (!m.autoencoders().empty()) {
    std::cout << ", auto-encoders";
    for (int a : m.autoencoders()) std::cout << " " << a;
    std::cout << ", lambda " << m.lambda();
  }
  std::cout << "\n\n" << m.table();
  return 0;
}

}  // namespace sire::app
