/* gsv-server: force-included into every mlx-c translation unit and into bindgen on Linux.
 *
 * 1. mlx-c's half.h declares float16_t / bfloat16_t only on aarch64; on x86_64 the
 *    mlx_array_{item,data}_{float16,bfloat16} functions would vanish and mlx-rs would not
 *    compile. Those functions only pass pointers, so any 16-bit type is ABI-safe.
 * 2. GCC 12 has no <format>; mlx-c's private/io.h calls std::format with "{}" placeholders
 *    only, so a tiny substitute suffices where the header is missing. */
#ifndef GSV_MLX_LINUX_COMPAT_H
#define GSV_MLX_LINUX_COMPAT_H

#if !defined(__aarch64__)
#ifdef __cplusplus
#include <mlx/types/half_types.h>
typedef mlx::core::float16_t float16_t;
typedef mlx::core::bfloat16_t bfloat16_t;
#else
#include <stdint.h>
typedef __fp16 float16_t;
typedef uint16_t bfloat16_t;
#endif
#define HAS_FLOAT16
#define HAS_BFLOAT16
#endif

#ifdef __cplusplus
#if __has_include(<format>)
#include <format>
#endif
#if !defined(__cpp_lib_format)
#include <sstream>
#include <string>
#include <string_view>
namespace std {
namespace gsv_compat {
inline void format_into(std::ostringstream& out, std::string_view fmt) { out << fmt; }
template <typename T, typename... Rest>
void format_into(std::ostringstream& out, std::string_view fmt, const T& v, const Rest&... rest) {
  auto pos = fmt.find("{}");
  if (pos == std::string_view::npos) { out << fmt; return; }
  out << fmt.substr(0, pos) << v;
  format_into(out, fmt.substr(pos + 2), rest...);
}
}  // namespace gsv_compat
template <typename... Args>
std::string format(std::string_view fmt, const Args&... args) {
  std::ostringstream out;
  gsv_compat::format_into(out, fmt, args...);
  return out.str();
}
}  // namespace std
#endif
#endif

#endif
