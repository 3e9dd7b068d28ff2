// Damaged inputs: every reader of a file a user hands sire (IDX and CIFAR data, PNG and JPEG
// images, safetensors checkpoints, model files) either reads it or throws sire::Error naming the
// file, whatever the damage: bytes flipped, the file cut short or lengthened, header words
// replaced by extreme values, JSON values of the wrong type or range, fields removed. Nothing
// else may escape (a library's exception, a crash, an allocation of terabytes). The mutations
// are drawn from fixed seeds, so a failure names one that reproduces; scripts/test-sanitized
// runs this under AddressSanitizer, where reading past a buffer fails even without a crash.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "data/cifar.h"
#include "data/file_io.h"
#include "data/idx.h"
#include "data/image_decode.h"
#include "engine/error.h"
#include "engine/io/safetensors.h"
#include "engine/nn/init.h"
#include "models/model.h"
#include "tests/support/data_files.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"

using namespace sire;
using namespace sire::testing;
using json = nlohmann::json;

namespace {

// How many damaged copies of each file: SIRE_DAMAGE_COUNT raises it for a longer search.
int count_of(int fallback) {
  const char* e = std::getenv("SIRE_DAMAGE_COUNT");
  return e ? std::max(1, std::atoi(e)) : fallback;
}

// Reads `path` with `read`: it may succeed (damage the format cannot see, such as a changed
// pixel) or throw sire::Error naming the file; anything else fails the check, with `damage`.
// Returns whether the file was refused.
// Files people write or edit (model files, and the safetensors header other tools write) get
// our own words for each fault: no JSON library's message passed through but a syntax error's.
enum class Words { kOurs, kAny };
bool reads_or_names_the_file(const std::string& path, const std::string& damage,
                             const std::function<void()>& read, Words words = Words::kOurs) {
  INFO("damage: " << damage);
  try {
    read();
    return false;
  } catch (const Error& e) {
    const std::string m = e.what();
    INFO("error: " << m);
    CHECK(m.find(path) != std::string::npos);
    if (words == Words::kOurs) {  // a syntax error's position is the parser's to give
      const size_t lib = m.find("json.exception.");
      CHECK((lib == std::string::npos || m.find("json.exception.parse_error") == lib));
    }
  } catch (const std::exception& e) {
    FAIL_CHECK("not a sire::Error: " << e.what());
  }
  return true;
}

// Counts a run of damaged copies: the undamaged file must read (or the fixture, not the reader,
// is at fault) and over a quarter of the copies must be refused (or `read` does not check what
// it is given; 53-99% are, by format, at the default counts).
struct Tally {
  int refused = 0, total = 0;
  void add(bool r) { refused += r, ++total; }
  ~Tally() {
    INFO(refused << " of " << total << " damaged copies refused");
    CHECK((total == 0 || 4 * refused > total));
  }
};

// Extreme values for a header's 32-bit words.
constexpr uint32_t kWords[] = {0u,          1u,          2u,          255u,
                               0x7fffffffu, 0x80000000u, 0xffffffffu, 0x00010000u};

// One random damage to a byte string, described in `how`.
std::vector<uint8_t> damage(const std::vector<uint8_t>& in, std::mt19937& rng, std::string* how) {
  std::vector<uint8_t> b = in;
  auto pick = [&](size_t n) { return n ? static_cast<size_t>(rng() % n) : size_t{0}; };
  switch (rng() % 5) {
    case 0: {  // cut short
      const size_t n = pick(b.size());
      b.resize(n);
      *how = str("cut to ", n, " of ", in.size(), " bytes");
      break;
    }
    case 1: {  // a few bytes flipped, most often in the header
      const int k = 1 + static_cast<int>(rng() % 4);
      *how = "bytes flipped at";
      for (int i = 0; i < k && !b.empty(); ++i) {
        const size_t at = rng() % 2 ? pick(std::min<size_t>(b.size(), 64)) : pick(b.size());
        b[at] ^= static_cast<uint8_t>(1 + rng() % 255);
        *how += str(" ", at);
      }
      break;
    }
    case 2: {  // a header word replaced by an extreme value, big- or little-endian
      if (b.size() < 4) {
        *how = "unchanged (too short for a word)";
        break;
      }
      const size_t at = pick(std::min<size_t>(b.size(), 64) - 3);
      const uint32_t w = kWords[rng() % std::size(kWords)];
      const bool big = rng() % 2;
      for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(w >> (big ? 24 - 8 * i : 8 * i));
      *how = str("word at ", at, " set to ", w, big ? " (big-endian)" : " (little-endian)");
      break;
    }
    case 3: {  // bytes inserted
      const size_t at = pick(b.size() + 1), n = 1 + pick(64);
      std::vector<uint8_t> extra(n);
      for (auto& x : extra) x = static_cast<uint8_t>(rng());
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), extra.begin(), extra.end());
      *how = str(n, " bytes inserted at ", at);
      break;
    }
    default: {  // a range removed
      const size_t at = pick(b.size()), n = 1 + pick(std::min<size_t>(b.size() - at, 64));
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
              b.begin() + static_cast<std::ptrdiff_t>(std::min(b.size(), at + n)));
      *how = str(n, " bytes removed at ", at);
    }
  }
  return b;
}

// Writes `count` damaged copies of `good` to `path` in turn and reads each.
void damage_and_read(const std::string& path, const std::vector<uint8_t>& good, int count,
                     uint32_t seed, const std::function<void()>& read) {
  write_file(path, good);
  REQUIRE_NOTHROW(read());
  Tally tally;
  std::mt19937 rng(seed);
  for (int i = 0; i < count; ++i) {
    std::string how;
    write_file(path, damage(good, rng, &how));
    tally.add(reads_or_names_the_file(path, str("#", i, " (seed ", seed, "): ", how), read));
  }
}

// JSON values of every kind and of extreme size, for a field of any type.
std::vector<json> odd_values() {
  return {nullptr,
          true,
          "x",
          "",
          -1,
          0,
          1,
          3,
          int64_t{1} << 31,
          int64_t{1} << 62,
          std::numeric_limits<int64_t>::min(),
          1.5,
          -0.5,
          1e300,
          json::array(),
          json::array({0}),
          json::array({-1, 2}),
          json::array({int64_t{1} << 40, int64_t{1} << 40}),
          json::object(),
          json{{"a", 1}}};
}

// Every place in a JSON document (as a JSON pointer), the root excluded.
void places(const json& j, const json::json_pointer& at, std::vector<json::json_pointer>* out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      out->push_back(at / it.key());
      places(it.value(), at / it.key(), out);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      out->push_back(at / i);
      places(j[i], at / i, out);
    }
  }
}

// One random change to a JSON document: a value replaced by an odd one, or a field removed.
json damage_json(const json& doc, std::mt19937& rng, std::string* how) {
  std::vector<json::json_pointer> ps;
  places(doc, json::json_pointer(), &ps);
  json d = doc;
  const json::json_pointer p = ps[rng() % ps.size()];
  if (rng() % 6 == 0 && d[p.parent_pointer()].is_object()) {
    d[p.parent_pointer()].erase(p.back());
    *how = str(p.to_string(), " removed");
  } else {
    const std::vector<json> odd = odd_values();
    d[p] = odd[rng() % odd.size()];
    *how = str(p.to_string(), " = ", d[p].dump());
  }
  return d;
}

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("damaged IDX files are read or named", "[data][damage]") {
  TempDir dir;
  const std::string images = dir.file("images-idx3"), labels = dir.file("labels-idx1");
  const std::vector<uint8_t> good_images = idx_images(6, 5, 4),
                             good_labels = idx_labels({1, 2, 3, 4, 5, 6});
  write_file(labels, good_labels);
  damage_and_read(images, good_images, count_of(300), 1,
                  [&] { data::load_idx_dataset("x", images, labels, 10); });
  write_file(images, good_images);
  damage_and_read(labels, good_labels, count_of(200), 2,
                  [&] { data::load_idx_dataset("x", images, labels, 10); });
  // Gzipped: the compressed stream damaged (gzip's own checks), and a damaged file compressed.
  const std::string gz = dir.file("images-idx3.gz");
  write_gzip(gz, good_images);
  const std::vector<uint8_t> good_gz = data::read_raw_file(gz);
  damage_and_read(gz, good_gz, count_of(200), 3, [&] { data::read_idx_images(gz); });
  Tally tally;
  std::mt19937 rng(4);
  for (int i = 0; i < count_of(100); ++i) {
    std::string how;
    write_gzip(gz, damage(good_images, rng, &how));
    tally.add(reads_or_names_the_file(gz, str("#", i, " (seed 4), then compressed: ", how),
                                      [&] { data::read_idx_images(gz); }));
  }
}

TEST_CASE("damaged CIFAR binaries are read or named", "[data][damage]") {
  TempDir dir;
  const std::string f = dir.file("data_batch_1.bin");
  damage_and_read(f, cifar_records({0, 3, 9}), count_of(200), 5,
                  [&] { data::load_cifar("x", data::CifarKind::Cifar10, {f}); });
  damage_and_read(f, cifar_records({0, 42, 99}, {0, 7, 19}), count_of(200), 6,
                  [&] { data::load_cifar("x", data::CifarKind::Cifar100, {f}); });
  // The class-name file beside the binaries (batches.meta.txt: ten names, one a line).
  const std::string names = dir.file("batches.meta.txt");
  const std::string ten = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
  damage_and_read(names, std::vector<uint8_t>(ten.begin(), ten.end()), count_of(200), 12,
                  [&] { data::read_class_names(names, 10); });
}

TEST_CASE("damaged PNG and JPEG images are decoded or named", "[data][damage]") {
  TempDir dir;
  std::vector<uint8_t> hwc(24 * 20 * 3);
  for (size_t i = 0; i < hwc.size(); ++i) hwc[i] = test_pixel(0, static_cast<int64_t>(i));
  std::vector<uint8_t> out(3 * 16 * 16);
  for (const char* ext : {"png", "jpg"}) {
    const std::string f = dir.file(str("image.", ext));
    if (std::string(ext) == "png") {
      write_png(f, 24, 20, 3, hwc);
    } else {
      write_jpeg(f, 24, 20, 3, hwc);
    }
    damage_and_read(f, data::read_raw_file(f), count_of(300), ext[0] == 'p' ? 7 : 8,
                    [&] { data::decode_image_file(f, 3, 16, 16, out.data()); });
  }
}

// stb_image's Huffman tables hold 256 codes, and it did not check that a table's 16 counts sum
// to no more: a JPEG listing more made it write past them (found under the sanitizers above).
TEST_CASE("a JPEG Huffman table of more than 256 codes is refused before stb_image sees it",
          "[data][damage]") {
  TempDir dir;
  const std::string f = dir.file("many-codes.jpg");
  std::vector<uint8_t> hwc(8 * 8 * 3, 128);
  write_jpeg(f, 8, 8, 3, hwc);
  std::vector<uint8_t> b = data::read_raw_file(f);
  size_t dht = 0;
  for (size_t i = 2; i + 1 < b.size() && !dht; ++i)
    if (b[i] == 0xFF && b[i + 1] == 0xC4) dht = i;
  REQUIRE(dht > 0);
  for (int k = 0; k < 16; ++k) b[dht + 5 + k] = 64;  // after FF C4, the length and class/id
  std::vector<uint8_t> out(3 * 8 * 8);
  for (int junk : {0, 3}) {  // stb_image steps over bytes between segments: so must the check
    INFO(junk << " junk bytes before the table");
    std::vector<uint8_t> damaged = b;
    damaged.insert(damaged.begin() + static_cast<std::ptrdiff_t>(dht), junk, uint8_t{0x5a});
    write_file(f, damaged);
    CHECK_THROWS_WITH(data::decode_image_file(f, 3, 8, 8, out.data()),
                      Catch::Contains(f + ": cannot decode image: corrupt JPEG") &&
                          Catch::Contains("lists 1024 codes"));
  }
}

TEST_CASE("damaged safetensors files are read or named", "[io][damage]") {
  TempDir dir;
  const std::string f = dir.file("t.safetensors");
  Tensor a = Tensor::full({2, 3}, 1.5), b = Tensor::full({4}, 2.0, DType::F64);
  io::save_safetensors(f, {{"a", a}, {"b", b}}, {{"note", "kept"}});
  const std::vector<uint8_t> good = data::read_raw_file(f);
  damage_and_read(f, good, count_of(300), 9, [&] { io::load_safetensors(f); });

  // The header as JSON: each field of the wrong type or size, or missing.
  const uint64_t hn =
      good[0] | uint64_t{good[1]} << 8 | uint64_t{good[2]} << 16 | uint64_t{good[3]} << 24;
  const json header = json::parse(
      std::string(good.begin() + 8, good.begin() + 8 + static_cast<std::ptrdiff_t>(hn)));
  const std::string data(good.begin() + 8 + static_cast<std::ptrdiff_t>(hn), good.end());
  Tally tally;
  std::mt19937 rng(10);
  for (int i = 0; i < count_of(300); ++i) {
    std::string how;
    const std::string h = damage_json(header, rng, &how).dump();
    std::string file(8, '\0');
    for (int k = 0; k < 8; ++k) file[k] = static_cast<char>(uint64_t{h.size()} >> (8 * k));
    write_file(f, bytes_of(file + h + data));
    tally.add(reads_or_names_the_file(f, str("#", i, " (seed 10): header ", how),
                                      [&] { io::load_safetensors(f); }));
  }
}

TEST_CASE("checkpoints with damaged metadata are read or named", "[train][damage]") {
  TempDir dir;
  nn::init::SkipGuard skip;
  const std::string model_file = dir.file("m.json");
  write_file(model_file, bytes_of(R"({"name": "m", "input": [1, 8, 8], "classes": 3,
    "sire": {"autoencoders": [1], "skips": true, "residual": true},
    "layers": [
      {"name": "c1", "type": "conv", "out": 4, "kernel": 3, "padding": 1},
      {"name": "b1", "type": "batchnorm"}, {"name": "r1", "type": "relu"},
      {"name": "p1", "type": "maxpool", "kernel": 2, "stride": 2, "downsample": true},
      {"name": "f", "type": "flatten"}, {"name": "fc", "type": "linear", "out": 3}]})"));
  models::Model model = models::Model::load(model_file);
  const std::string f = dir.file("last.safetensors");
  const json data_meta = {{"dataset", "x"}, {"mean", {0.5}}, {"std", {0.25}}, {"pad", 0}};
  train::save_checkpoint(f, model, nullptr, {{"data", data_meta}});
  const io::TensorFile good = io::load_safetensors(f);
  const json meta = json::parse(good.metadata.at("sire.model"));

  // What `sire eval` and `sire recon` do with a checkpoint before they read any data.
  auto open = [&] {
    const train::Checkpoint c = train::read_checkpoint(f);
    models::Model m = train::model_from_metadata(c.model, f);
    train::load_model_state(m, c.file);
    train::eval_transform(c);
  };
  REQUIRE_NOTHROW(open());
  Tally tally;
  std::mt19937 rng(11);
  for (int i = 0; i < count_of(300); ++i) {
    std::string how;
    const bool model_part = rng() % 4 != 0;
    const json damaged = damage_json(model_part ? meta : data_meta, rng, &how);
    std::map<std::string, std::string> m = good.metadata;
    m[model_part ? "sire.model" : "sire.data"] = damaged.dump();
    io::save_safetensors(f, good.tensors, m);
    // Metadata sire wrote itself: a damaged field may be reported in the JSON library's words.
    tally.add(reads_or_names_the_file(
        f, str("#", i, " (seed 11): ", model_part ? "sire.model" : "sire.data", " ", how), open,
        Words::kAny));
  }
}

TEST_CASE("damaged model files are built or named", "[models][damage]") {
  nn::init::SkipGuard skip;  // shapes and parameter counts only: no drawing of weights
  TempDir dir;
  const std::string f = dir.file("model.json");
  uint32_t seed = 20;
  for (const char* name :
       {"baseline-cnn", "sire-cnn", "resnet50", "sire-resnet34", "googlenet", "sire-vgg16"}) {
    // The file with its base merged in (a damaged copy elsewhere would not find its base).
    const json doc = models::load_model_spec(str(SIRE_SOURCE_DIR, "/models/", name, ".json")).raw;
    write_file(f, bytes_of(doc.dump(1)));
    REQUIRE_NOTHROW(models::Model::load(f));
    Tally tally;
    std::mt19937 rng(seed);
    for (int i = 0; i < count_of(120); ++i) {
      std::string how;
      write_file(f, bytes_of(damage_json(doc, rng, &how).dump(1)));
      tally.add(reads_or_names_the_file(f, str(name, " #", i, " (seed ", seed, "): ", how),
                                        [&] { models::Model::load(f); }));
    }
    ++seed;
  }
}
