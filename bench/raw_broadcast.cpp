// raw-broadcast: the physical limit Hearth is measured against
// (docs/performance.md). A minimal WebSocket broadcast server on one epoll
// thread: no protocol beyond RFC 6455, no storage, no checks. A client's
// first text frame names its room; every later frame is framed once and
// written to every connection in that room (the sender too), one write()
// each. What it costs per delivery is about what the kernel costs.
//
// Bench only: it trusts its clients (no limits, no timeouts) and must not
// face a network.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

struct Client {
  int fd = -1;
  bool upgraded = false;
  std::string room;  // empty until the first frame
  std::string in;    // bytes read, not yet handled
  std::string out;   // bytes the socket would not take yet
};

std::unordered_map<int, Client> clients;
std::unordered_map<std::string, std::vector<int>> rooms;
int epoll_fd = -1;

std::string accept_key(std::string_view key) {
  std::string text(key);
  text += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  const int length = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(encoded), static_cast<std::size_t>(length));
}

void close_client(int fd) {
  auto it = clients.find(fd);
  if (it == clients.end()) return;
  if (!it->second.room.empty()) {
    auto& members = rooms[it->second.room];
    std::erase(members, fd);
  }
  ::close(fd);
  clients.erase(it);
}

// Writes `bytes` now if the socket takes them, else keeps them for EPOLLOUT.
void send_bytes(Client& client, std::string_view bytes) {
  if (client.out.empty()) {
    const ssize_t n = ::send(client.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(bytes.size())) return;
    if (n < 0 && errno != EAGAIN) return;  // the read side will see it
    bytes.remove_prefix(n < 0 ? 0 : static_cast<std::size_t>(n));
    epoll_event event{EPOLLIN | EPOLLOUT, {.fd = client.fd}};
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, client.fd, &event);
  }
  client.out.append(bytes);
}

std::string frame_text(std::string_view payload) {
  std::string frame;
  frame.push_back(static_cast<char>(0x81));
  if (payload.size() < 126) {
    frame.push_back(static_cast<char>(payload.size()));
  } else {
    frame.push_back(126);
    frame.push_back(static_cast<char>(payload.size() >> 8));
    frame.push_back(static_cast<char>(payload.size() & 0xFF));
  }
  frame.append(payload);
  return frame;
}

void on_message(Client& client, std::string payload) {
  if (client.room.empty()) {
    client.room = std::move(payload);
    rooms[client.room].push_back(client.fd);
    return;
  }
  const std::string frame = frame_text(payload);  // framed once for everyone
  for (const int member : rooms[client.room]) send_bytes(clients[member], frame);
}

// Handles what `client` has sent; false if it must be closed.
bool handle_input(Client& client) {
  if (!client.upgraded) {
    const auto end = client.in.find("\r\n\r\n");
    if (end == std::string::npos) return client.in.size() < 8192;
    const auto at = client.in.find("Sec-WebSocket-Key: ");
    if (at == std::string::npos) return false;
    const auto key_end = client.in.find("\r\n", at);
    const std::string key = client.in.substr(at + 19, key_end - at - 19);
    send_bytes(client, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: " + accept_key(key) + "\r\n\r\n");
    client.in.erase(0, end + 4);
    client.upgraded = true;
  }
  std::size_t at = 0;
  for (;;) {
    const std::size_t left = client.in.size() - at;
    if (left < 6) break;
    const auto* p = reinterpret_cast<const unsigned char*>(client.in.data() + at);
    const int opcode = p[0] & 0x0F;
    std::size_t length = p[1] & 0x7F;
    std::size_t header = 2;
    if (length == 126) {
      length = (std::size_t{p[2]} << 8) | p[3];
      header = 4;
    } else if (length == 127) {
      return false;  // nobody here sends that much
    }
    header += 4;  // client frames are masked
    if (left < header + length) break;
    const unsigned char* mask = p + header - 4;
    std::string payload(client.in.data() + at + header, length);
    for (std::size_t i = 0; i < length; ++i) payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
    at += header + length;
    if (opcode == 0x8) return false;
    if (opcode == 0x1 || opcode == 0x2) on_message(client, std::move(payload));
  }
  client.in.erase(0, at);
  return true;
}

}  // namespace

int main(int argc, char* argv[]) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 0;
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);

  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener, 4096) != 0) {
    std::perror("raw-broadcast: listen");
    return 1;
  }
  socklen_t length = sizeof address;
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  std::printf("raw-broadcast listening on ws://127.0.0.1:%d/\n", ntohs(address.sin_port));
  std::fflush(stdout);

  epoll_fd = epoll_create1(0);
  epoll_event listen_event{EPOLLIN, {.fd = listener}};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &listen_event);
  std::vector<epoll_event> events(1024);
  std::vector<char> buffer(1 << 16);
  for (;;) {
    const int ready = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < ready; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      if (fd == listener) {
        for (;;) {
          const int client = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
          if (client < 0) break;
          setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          clients[client].fd = client;
          epoll_event event{EPOLLIN, {.fd = client}};
          epoll_ctl(epoll_fd, EPOLL_CTL_ADD, client, &event);
        }
        continue;
      }
      auto it = clients.find(fd);
      if (it == clients.end()) continue;
      Client& client = it->second;
      if (events[static_cast<std::size_t>(i)].events & EPOLLOUT) {
        const ssize_t n = ::send(fd, client.out.data(), client.out.size(), MSG_NOSIGNAL);
        if (n > 0) client.out.erase(0, static_cast<std::size_t>(n));
        if (client.out.empty()) {
          epoll_event event{EPOLLIN, {.fd = fd}};
          epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event);
        }
      }
      if (events[static_cast<std::size_t>(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        bool open = true;
        for (;;) {
          const ssize_t n = ::read(fd, buffer.data(), buffer.size());
          if (n > 0) {
            client.in.append(buffer.data(), static_cast<std::size_t>(n));
            continue;
          }
          if (n == 0 || errno != EAGAIN) open = false;
          break;
        }
        if (!open || !handle_input(client)) close_client(fd);
      }
    }
  }
}
