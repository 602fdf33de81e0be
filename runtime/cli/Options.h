// Options.h - the `--name value` / `--flag` command lines of the model binaries.
#ifndef EERT_CLI_OPTIONS_H
#define EERT_CLI_OPTIONS_H

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace eert {

/// `--name value` options and `--flag`s of one command, checked against the
/// command's known options.
class Options {
public:
  Options(int argc, char **argv, int first, const std::set<std::string> &withValue,
          const std::set<std::string> &flags) {
    for (int i = first; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg.rfind("--", 0) != 0)
        throw std::runtime_error("unexpected argument '" + arg + "'");
      std::string name = arg.substr(2);
      if (flags.count(name)) {
        values_[name] = {"1"};
      } else if (withValue.count(name)) {
        if (i + 1 >= argc)
          throw std::runtime_error("option --" + name + " needs a value");
        values_[name].push_back(argv[++i]);
      } else {
        throw std::runtime_error("unknown option --" + name);
      }
    }
  }
  bool has(const std::string &name) const { return values_.count(name) != 0; }
  /// The value of --name (the last, if given several times).
  std::string text(const std::string &name) const {
    auto it = values_.find(name);
    if (it == values_.end())
      throw std::runtime_error("missing required option --" + name);
    return it->second.back();
  }
  /// Every value of a repeatable option, in command-line order.
  std::vector<std::string> texts(const std::string &name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
  }
  int64_t integer(const std::string &name, std::optional<int64_t> fallback = {}) const {
    if (!has(name) && fallback)
      return *fallback;
    return parse<int64_t>(name, "an integer", [](const std::string &v, size_t *used) {
      return static_cast<int64_t>(std::stoll(v, used));
    });
  }
  double number(const std::string &name, double fallback) const {
    if (!has(name))
      return fallback;
    return parse<double>(name, "a number",
                         [](const std::string &v, size_t *used) { return std::stod(v, used); });
  }

private:
  /// The whole value of --name read by `convert`, or an error naming the option.
  template <typename T, typename Convert>
  T parse(const std::string &name, const char *what, Convert convert) const {
    std::string value = text(name);
    size_t used = 0;
    T result{};
    try {
      result = convert(value, &used);
    } catch (...) {
      used = 0;
    }
    if (used != value.size() || value.empty() || !std::isfinite(static_cast<double>(result)))
      throw std::runtime_error("option --" + name + " needs " + what + ", got '" + value + "'");
    return result;
  }

  std::map<std::string, std::vector<std::string>> values_;
};

} // namespace eert

#endif // EERT_CLI_OPTIONS_H
