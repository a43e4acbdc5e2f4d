#include "app/config.hpp"

#include <boost/algorithm/string/split.hpp>
#include <boost/algorithm/string/trim.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <thread>

#include "base/identity.hpp"
#include "domain/crisis.hpp"
#include "domain/token.hpp"

namespace hearth {
namespace {

namespace po = boost::program_options;

// Where the data a server ships with is: share/hearth under the prefix it
// is installed in (the web client, the crisis rules and resources), found
// from the binary's own place rather than a path compiled in. A build tree
// has the same layout (server/CMakeLists.txt links it to the sources).
std::string data_path(const char* relative) {
  std::error_code error;
  const std::filesystem::path binary = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return (std::filesystem::path(HEARTH_DATA_FROM_BIN) / relative).string();  // fails where used
  return (binary.parent_path() / HEARTH_DATA_FROM_BIN / relative).lexically_normal().string();
}

// HEARTH_MAX_FRAME_BYTES -> max-frame-bytes, for the options `desc` knows.
std::string environment_name_to_option(const po::options_description& desc, const std::string& variable) {
  if (!variable.starts_with("HEARTH_")) return {};
  std::string option = variable.substr(7);
  for (char& c : option) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return desc.find_nothrow(option, false) ? option : std::string();
}

po::options_description server_options(Config& c) {
  const Limits d;
  po::options_description desc("hearth-server [options]\n\nEvery option can also be set as HEARTH_<NAME> "
                               "(e.g. HEARTH_PORT=9000); a flag wins over the environment.\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help", "print this help and exit")
    ("listen", po::value(&c.listen)->default_value(c.listen), "address to listen on")
    ("port", po::value(&c.port)->default_value(c.port), "TCP port; 0 picks a free one")
    ("threads", po::value(&c.threads)->default_value(0), "I/O threads; 0 means one per core")
    ("presence-batch-ms", po::value(&c.presence_batch_ms)->default_value(c.presence_batch_ms),
     "a node writes the joins and leaves of a room it takes within this long as one log entry")
    ("presence-push-ms", po::value(&c.presence_push_ms)->default_value(c.presence_push_ms),
     "members are pushed who is here at most this often")
    ("write-coalesce-ms", po::value(&c.write_coalesce_ms)->default_value(c.write_coalesce_ms),
     "under load, write to each connection at most this often (ms), all it has queued at once; 0: at once")
    ("engine", po::value(&c.engine)->default_value(c.engine),
     "where room logs live: memory (this process) or redis (shared by nodes)")
    ("redis", po::value(&c.redis_url)->default_value(c.redis_url),
     "with --engine redis: redis://[:password@]host[:port] or unix:///path/to/socket")
    ("redis-password", po::value(&c.redis_password), "Redis AUTH password (instead of one in --redis)")
    ("allowed-origins", po::value<std::string>()->default_value(""),
     "comma-separated browser origins allowed to connect (e.g. https://hearth.example.org), * for any; "
     "empty: this server's own origin only")
    ("trust-proxy", po::bool_switch(&c.trust_proxy),
     "take the client address from X-Real-IP on connections from loopback (a reverse proxy there)")
    ("metrics-listen", po::value(&c.metrics_listen),
     "ADDR:PORT to serve GET /metrics on for a scraper (plain HTTP); the main port answers it to loopback only")
    ("tls-cert", po::value(&c.tls_cert), "PEM certificate chain: serve TLS (https://, wss://) on --port; needs --tls-key")
    ("tls-key", po::value(&c.tls_key), "PEM private key for --tls-cert")
    ("crisis-rules", po::value(&c.crisis_rules)->default_value(data_path("crisis/rules")),
     "crisis rules: a folder of *.rules files (one per locale) or one file; empty turns detection off; "
     "read again on SIGHUP")
    ("crisis-resources", po::value(&c.crisis_resources)->default_value(data_path("crisis/resources.txt")),
     "text file of support and helplines sent privately to a writer the rules say may be at risk")
    ("crisis-about-resources",
     po::value(&c.crisis_about_resources)->default_value(data_path("crisis/resources-about.txt")),
     "text file of resources sent privately to a writer who talks about suicide or self-harm for someone else")
    ("support-resources",
     po::value(&c.support_resources)->default_value(data_path("crisis/resources-general.txt")),
     "text file of where to find support, for everyone (GET /support; the web client shows it when a room "
     "ends); empty: none; read again on SIGHUP")
    ("web-root", po::value(&c.web_root)->default_value(data_path("web")),
     "folder of the web client served at /; empty serves none")
    ("token-secret", po::value(&c.token_secret), "HS256 secret for tokens, at least 32 bytes (required)")
    ("socket-send-buffer", po::value(&c.socket_send_buffer)->default_value(c.socket_send_buffer),
     "kernel send buffer per client connection (bytes); 0: the kernel's autotuning")
    ("handshake-timeout", po::value<std::string>()->default_value("10s"),
     "time to send a whole HTTP request (the WebSocket upgrade included) and for TLS's handshake")
    ("idle-timeout", po::value<std::string>()->default_value("40s"),
     "checked every half of it: silence gets a ping, then a drop (a dead peer goes within 1.5x this)")
    ("shutdown-grace", po::value<std::string>()->default_value("5s"), "how long clients get to close on SIGTERM")
    ("presence-ttl", po::value<std::string>()->default_value("15s"),
     "with --engine redis: a node silent this long is dead and its members leave (within 4/3 of it)")
    ("retention-days", po::value(&c.retention_days)->default_value(c.retention_days),
     "questions and messages older than this are removed, unless a room sets its own; 0 keeps them for ever")
    ("retention-sweep", po::value<std::string>()->default_value("1h"),
     "how often this node trims rooms past their retention; 0 never")
    ("log-level", po::value<std::string>()->default_value("info"), "debug, info, warn or error")
    ("max-question-chars", po::value(&c.limits.max_question_chars)->default_value(d.max_question_chars), "longest question")
    ("max-answer-chars", po::value(&c.limits.max_answer_chars)->default_value(d.max_answer_chars), "longest answer")
    ("max-message-chars", po::value(&c.limits.max_message_chars)->default_value(d.max_message_chars), "longest chat message")
    ("max-title-chars", po::value(&c.limits.max_title_chars)->default_value(d.max_title_chars), "longest room title")
    ("max-name-chars", po::value(&c.limits.max_name_chars)->default_value(d.max_name_chars), "longest display name")
    ("max-frame-bytes", po::value(&c.limits.max_frame_bytes)->default_value(d.max_frame_bytes),
     "larger frames are refused with MESSAGE_TOO_LARGE; 16x this closes the connection (1009)")
    ("send-queue-frames", po::value(&c.limits.send_queue_frames)->default_value(d.send_queue_frames),
     "frames queued for a slow client before it is closed (4001)")
    ("max-rooms-per-connection", po::value(&c.limits.max_rooms_per_connection)->default_value(d.max_rooms_per_connection),
     "rooms one connection may be in")
    ("snapshot-messages", po::value(&c.limits.snapshot_messages)->default_value(d.snapshot_messages),
     "recent chat messages in a snapshot")
    ("messages-in-memory", po::value(&c.limits.messages_in_memory)->default_value(d.messages_in_memory),
     "chat messages a room holds in memory (the latest); older ones stay in the log, deletable only")
    ("closed-questions-in-memory",
     po::value(&c.limits.closed_questions_in_memory)->default_value(d.closed_questions_in_memory),
     "answered, dismissed or deleted questions a room holds in memory (the latest)")
    ("max-open-questions", po::value(&c.limits.max_open_questions)->default_value(d.max_open_questions),
     "questions open or awaiting approval in a room (TOO_MANY_QUESTIONS past it)")
    ("address-ban-hours", po::value(&c.limits.address_ban_hours)->default_value(d.address_ban_hours),
     "hours a ban of an anonymous member also holds against their client addresses (0: not at all)")
    ("reports-per-hour", po::value(&c.limits.reports_per_hour)->default_value(d.reports_per_hour),
     "reports one person may make in a room in an hour, three times that from one address (0: any)")
    ("resume-window", po::value(&c.limits.resume_window)->default_value(d.resume_window),
     "events per room kept for clients that resume; older resume points get a snapshot")
    ("message-rate", po::value(&c.limits.message_rate)->default_value(d.message_rate),
     "messages a second one connection may send on average (RATE_LIMITED past it)")
    ("message-burst", po::value(&c.limits.message_burst)->default_value(d.message_burst),
     "messages one connection may send at once")
    ("identity-message-rate", po::value(&c.limits.identity_message_rate)->default_value(d.identity_message_rate),
     "messages a second one identity may send over all its connections to this node")
    ("identity-message-burst", po::value(&c.limits.identity_message_burst)->default_value(d.identity_message_burst),
     "messages one identity may send at once")
    ("max-connections-per-ip", po::value(&c.limits.max_connections_per_ip)->default_value(d.max_connections_per_ip),
     "WebSocket connections open at once from one address (429 past it); 0 for no limit")
    ("max-pending-questions", po::value(&c.limits.max_pending_questions)->default_value(d.max_pending_questions),
     "questions of one person awaiting approval in a room (TOO_MANY_PENDING past it)");
  // clang-format on
  return desc;
}

std::optional<log::Level> parse_level(const std::string& name) {
  if (name == "debug") return log::Level::debug;
  if (name == "info") return log::Level::info;
  if (name == "warn") return log::Level::warn;
  if (name == "error") return log::Level::error;
  return std::nullopt;
}

}  // namespace

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  boost::algorithm::split(items, text, [](char c) { return c == ','; });
  for (auto& item : items) boost::algorithm::trim_if(item, [](char c) { return c == ' ' || c == '\t'; });
  std::erase_if(items, [](const std::string& item) { return item.empty(); });
  return items;
}

std::optional<std::chrono::seconds> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (value < 0) return std::nullopt;
  const std::string unit = text.substr(used);
  if (unit.empty() || unit == "s") return std::chrono::seconds(value);
  if (unit == "m") return std::chrono::minutes(value);
  if (unit == "h") return std::chrono::hours(value);
  if (unit == "d") return std::chrono::hours(24 * value);
  return std::nullopt;
}

std::optional<Config> parse_config(int argc, const char* const argv[], int& exit_code) {
  Config config;
  auto desc = server_options(config);
  // Options for tests, left out of --help.
  po::options_description hidden;
  hidden.add_options()("fault-injection", po::bool_switch(&config.fault_injection))(
      "max-waiting-ops", po::value(&config.limits.max_waiting_ops)->default_value(config.limits.max_waiting_ops));
  po::options_description all;
  all.add(desc).add(hidden);
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, all), vm);
    po::store(po::parse_environment(all, [&all](const std::string& variable) {
                return environment_name_to_option(all, variable);
              }),
              vm);
    if (vm.count("help")) {
      std::cout << desc << "\nSub-command:\n  hearth-server token --help   mint a signed token\n";
      exit_code = 0;
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "hearth-server: " << e.what() << " (see --help)\n";
    exit_code = 2;
    return std::nullopt;
  }
  const auto fail = [&exit_code](const std::string& message) -> std::optional<Config> {
    std::cerr << "hearth-server: " << message << " (see --help)\n";
    exit_code = 2;
    return std::nullopt;
  };
  if (config.token_secret.size() < 32) {
    return fail("--token-secret (or HEARTH_TOKEN_SECRET) is required and must be at least 32 bytes");
  }
  if (config.engine != "memory" && config.engine != "redis") return fail("--engine must be memory or redis");
  const auto handshake = parse_duration(vm["handshake-timeout"].as<std::string>());
  const auto idle = parse_duration(vm["idle-timeout"].as<std::string>());
  const auto grace = parse_duration(vm["shutdown-grace"].as<std::string>());
  const auto presence = parse_duration(vm["presence-ttl"].as<std::string>());
  const auto sweep = parse_duration(vm["retention-sweep"].as<std::string>());
  if (!handshake || !idle || !grace || !presence || !sweep) return fail("durations look like 90s, 30m, 2h or 7d");
  if (config.retention_days > kMaxRetentionDays) {
    return fail("--retention-days is at most " + std::to_string(kMaxRetentionDays));
  }
  config.retention_sweep = *sweep;
  config.allowed_origins = split_list(vm["allowed-origins"].as<std::string>());
  if (config.limits.message_rate <= 0 || config.limits.message_burst < 1 || config.limits.identity_message_rate <= 0 ||
      config.limits.identity_message_burst < 1) {
    return fail("message rates must be above 0 and bursts at least 1");
  }
  if (config.tls_cert.empty() != config.tls_key.empty()) return fail("--tls-cert and --tls-key go together");
  if (presence->count() < 3) return fail("--presence-ttl must be at least 3s");
  config.presence_ttl = *presence;
  config.handshake_timeout = *handshake;
  config.idle_timeout = *idle;
  config.shutdown_grace = *grace;
  const auto level = parse_level(vm["log-level"].as<std::string>());
  if (!level) return fail("--log-level must be debug, info, warn or error");
  config.log_level = *level;
  if (config.threads == 0) config.threads = std::max(1u, std::thread::hardware_concurrency());
  if (config.limits.max_frame_bytes < 1024) return fail("--max-frame-bytes must be at least 1024");
  if (config.limits.send_queue_frames < 1) return fail("--send-queue-frames must be at least 1");
  if (config.limits.messages_in_memory < config.limits.snapshot_messages) {
    return fail("--messages-in-memory must be at least --snapshot-messages");
  }
  if (config.limits.closed_questions_in_memory < 1 || config.limits.max_open_questions < 1) {
    return fail("--closed-questions-in-memory and --max-open-questions must be at least 1");
  }
  if (config.write_coalesce_ms > 100) return fail("--write-coalesce-ms is at most 100");
  if (config.presence_batch_ms > 1000) return fail("--presence-batch-ms is at most 1000");
  if (config.presence_push_ms > 10000) return fail("--presence-push-ms is at most 10000");
  config.limits.presence_batch = std::chrono::milliseconds(config.presence_batch_ms);
  config.limits.presence_push = std::chrono::milliseconds(config.presence_push_ms);
  return config;
}

int run_token_command(int argc, const char* const argv[]) {
  std::string role, room, name, sub, ttl, secret;
  po::options_description desc(
      "hearth-server token --role ROLE --room ID [options]\n\nPrints a signed HS256 token. The secret comes from "
      "--token-secret or HEARTH_TOKEN_SECRET, as for the server.\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help", "print this help and exit")
    ("role", po::value(&role)->required(), "participant, moderator, host or admin")
    ("room", po::value(&room)->required(), "the room id, or * for every room")
    ("name", po::value(&name)->default_value(""), "display name")
    ("sub", po::value(&sub)->default_value(""), "the user's stable id; default: a new random one")
    ("ttl", po::value(&ttl)->default_value("2h"), "lifetime: 90s, 30m, 2h, 7d")
    ("token-secret", po::value(&secret), "HS256 secret (or HEARTH_TOKEN_SECRET)");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::store(po::parse_environment(desc, [&desc](const std::string& variable) {
                return variable == "HEARTH_TOKEN_SECRET" ? environment_name_to_option(desc, variable) : std::string();
              }),
              vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "hearth-server token: " << e.what() << " (see --help)\n";
    return 2;
  }
  Claims claims;
  claims.role = role_from_name(role);
  if (claims.role == v1::ROLE_UNSPECIFIED) {
    std::cerr << "hearth-server token: --role must be participant, moderator, host or admin\n";
    return 2;
  }
  const auto lifetime = parse_duration(ttl);
  if (!lifetime || lifetime->count() == 0) {
    std::cerr << "hearth-server token: --ttl looks like 90s, 30m, 2h or 7d\n";
    return 2;
  }
  if (secret.size() < 32) {
    std::cerr << "hearth-server token: --token-secret (or HEARTH_TOKEN_SECRET) of at least 32 bytes is required\n";
    return 2;
  }
  claims.room = room;
  claims.name = name;
  claims.sub = sub.empty() ? "user-" + random_hex(8) : sub;
  claims.exp = std::chrono::duration_cast<std::chrono::seconds>(
                   (std::chrono::system_clock::now() + *lifetime).time_since_epoch())
                   .count();
  std::cout << mint_token(claims, secret) << "\n";
  return 0;
}

int run_crisis_check_command(int argc, const char* const argv[]) {
  std::string rules_path;
  double bench_seconds = 0;
  po::options_description desc(
      "hearth-server crisis-check [--rules PATH] [--bench SECONDS] < lines\n\nReads one message per line. "
      "Prints, "
      "for each, its outcome (CRISIS, ABOUT or NONE) and the rule that decided it (file:line), "
      "tab-separated. With "
      "--bench, classifies the lines over and over for that long and prints the cost per message, beside the "
      "cost "
      "of only splitting them into words.\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help", "print this help and exit")
    ("rules", po::value(&rules_path)->default_value(data_path("crisis/rules")),
     "a folder of *.rules files, or one file")
    ("bench", po::value(&bench_seconds)->default_value(0), "seconds to measure for (0: classify and print)");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "hearth-server crisis-check: " << e.what() << " (see --help)\n";
    return 2;
  }
  std::string error;
  const auto rules = CrisisRules::load(rules_path, error);
  if (!rules) {
    std::cerr << "hearth-server crisis-check: " << error << "\n";
    return 2;
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(std::cin, line);) lines.push_back(std::move(line));
  if (bench_seconds <= 0) {
    for (const auto& line : lines) {
      const auto verdict = rules->classify(line);
      std::cout << outcome_name(verdict.outcome) << '\t' << verdict.rule << '\n';
    }
    return 0;
  }
  if (lines.empty()) {
    std::cerr << "hearth-server crisis-check: --bench needs lines on stdin\n";
    return 2;
  }
  // Both measured in the same run, alternately, so that the ratio holds on
  // a shared, noisy machine.
  using Clock = std::chrono::steady_clock;
  std::size_t sink = 0;
  const auto per_message_us = [&](auto&& work) {
    std::size_t messages = 0;
    const auto start = Clock::now();
    const auto until = start + std::chrono::duration<double>(bench_seconds / 2);
    while (Clock::now() < until) {
      for (const auto& line : lines) sink += work(line);
      messages += lines.size();
    }
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count() /
           static_cast<double>(messages);
  };
  const double words_us = per_message_us([](const std::string& line) { return crisis_words(line).size(); });
  const double rules_us = per_message_us(
      [&](const std::string& line) { return static_cast<std::size_t>(rules->classify(line).outcome); });
  std::cout << std::fixed << std::setprecision(3) << "{\"messages\": " << lines.size()
            << ", \"rules\": " << rules->size() << ", \"classify_us\": " << rules_us
            << ", \"words_us\": " << words_us << ", \"classify_over_words\": " << rules_us / words_us
            << ", \"sink\": " << sink % 10 << "}\n";
  return 0;
}

}  // namespace hearth
