#include "train/progress.h"

#include <algorithm>
#include <unistd.h>

#include <cstdio>

#include "engine/error.h"

namespace sire::train {

std::string format_duration(double s) {
  if (s < 0) return "?";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  } else if (t >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lds", t);
  }
  return buf;
}

Progress::Progress(bool on) : on_(on), tty_(isatty(fileno(stderr)) != 0) {}

void Progress::update(int epoch, int epochs, int64_t batch, int64_t batches, const EpochSums& sums,
                      double lr, double seconds_left) {
  if (!on_) return;
  const auto now = std::chrono::steady_clock::now();
  const auto every = tty_ ? std::chrono::milliseconds(250) : std::chrono::milliseconds(10000);
  if (batch != batches && (drawn_ || !tty_) && now - last_ < every) return;
  if (!tty_ && batch == batches) return;  // the epoch summary follows
  last_ = now;
  const double n = static_cast<double>(std::max<int64_t>(sums.samples, 1));
  std::string parts = str("ce ", sums.ce / n);
  if (!sums.mse.empty()) {
    double mse = 0;
    for (double m : sums.mse) mse += m / n;
    parts += str(", mse ", mse);
  }
  char buf[256];
  std::snprintf(buf, sizeof buf, "%sepoch %d/%d  batch %lld/%lld  loss %.4f (%s)  lr %g  %.0f img/s  left %s%s",
                tty_ ? "\r" : "",
                epoch + 1, epochs, static_cast<long long>(batch), static_cast<long long>(batches),
                sums.loss / n, parts.c_str(), lr, sums.seconds > 0 ? sums.samples / sums.seconds : 0.0,
                format_duration(seconds_left).c_str(), tty_ ? "\033[K" : "\n");
  std::fputs(buf, stderr);
  std::fflush(stderr);
  drawn_ = tty_;
}

void Progress::note(const std::string& what) {
  if (!on_) return;
  std::fprintf(stderr, tty_ ? "  %s...\033[K" : "%s...\n", what.c_str());
  std::fflush(stderr);
}

void Progress::epoch_summary(const nlohmann::json& line) {
  if (!on_) return;
  std::string val;
  if (line.contains("val"))
    val = str("  val top-1 ", line["val"]["top1_err"].get<double>(), "%  top-5 ",
              line["val"]["top5_err"].get<double>(), "%");
  std::fprintf(stderr, "%sepoch %d: loss %.4f  train top-1 %.2f%%%s  (%s)%s\n", tty_ ? "\r" : "",
               line["epoch"].get<int>(), line["train"]["loss"].get<double>(),
               line["train"]["top1_err"].get<double>(), val.c_str(),
               format_duration(line["seconds"].get<double>()).c_str(), tty_ ? "\033[K" : "");
  drawn_ = false;
}

void Progress::finish() {
  if (on_ && drawn_) std::fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace sire::train
