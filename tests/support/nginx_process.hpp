// A real nginx in front of test nodes, rendered from deploy/nginx.conf.template.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hearth::testing {

class NginxProcess {
 public:
  // PEM files for nginx to terminate TLS with (deploy/nginx-tls.conf.template).
  struct Tls {
    std::string cert;
    std::string key;
  };

  // Proxies a free loopback port to `node_ports`, with `tls` if given;
  // throws if nginx does not start serving within 10 seconds.
  explicit NginxProcess(const std::vector<std::uint16_t>& node_ports, const std::optional<Tls>& tls = std::nullopt);
  ~NginxProcess();
  NginxProcess(const NginxProcess&) = delete;
  NginxProcess& operator=(const NginxProcess&) = delete;

  std::uint16_t port() const { return port_; }

 private:
  // Starts nginx on port_ with the config in dir_; false if it did not come
  // to listen there (nothing is left running then).
  bool try_start();

  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace hearth::testing
