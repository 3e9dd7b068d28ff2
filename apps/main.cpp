// `sire COMMAND [options]`: dispatch to the subcommands of apps/commands.h.
#include <cstdio>
#include <iostream>
#include <new>

#include "apps/commands.h"
#include "engine/error.h"

namespace sire::app {

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      {"train", "train a model on a dataset by one of the paper's protocols", run_train},
      {"eval", "top-1 and top-5 error of a checkpoint on a dataset split", run_eval},
      {"recon", "draw a checkpoint's auto-encoder reconstructions (paper Fig. 2) as a PNG", run_recon},
      {"time", "time training steps of a model, per layer too", run_time},
      {"info", "print a model's layers, output shapes and parameter counts", run_info},
  };
  return all;
}

}  // namespace sire::app

int main(int argc, char** argv) {
  using namespace sire::app;
  auto usage = [] {
    std::cerr << "usage: sire COMMAND [options]   (sire COMMAND --help for its options)\n\ncommands:\n";
    for (const Command& c : commands()) std::cerr << "  " << c.name << "\t" << c.summary << "\n";
  };
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  std::vector<std::string> rest(argv + 2, argv + argc);
  for (const Command& c : commands()) {
    if (c.name != name) continue;
    try {
      return c.run(rest);
    } catch (const sire::Error& e) {
      std::cerr << "sire " << name << ": error: " << e.what() << "\n";
      return 1;
    } catch (const std::bad_alloc&) {
      std::cerr << "sire " << name << ": error: out of memory\n";
      return 1;
    } catch (const std::exception& e) {  // a library's own, where no check of ours caught it
      std::cerr << "sire " << name << ": error: " << e.what() << "\n";
      return 1;
    }
  }
  std::cerr << "sire: unknown command '" << name << "'\n";
  usage();
  return 2;
}
