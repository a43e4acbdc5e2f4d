// A real nginx in front of test nodes, rendered from deploy/nginx.conf.template.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hearth::testing {

class NginxProcess {
 public:
  // Proxies a free loopback port to `node_ports`; throws if nginx does not
  // start serving within 10 seconds.
  explicit NginxProcess(const std::vector<std::uint16_t>& node_ports);
  ~NginxProcess();
  NginxProcess(const NginxProcess&) = delete;
  NginxProcess& operator=(const NginxProcess&) = delete;

  std::uint16_t port() const { return port_; }

 private:
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace hearth::testing
