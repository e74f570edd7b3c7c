// http::Client against a real TLS server on loopback with a self-signed certificate made for the
// test: refused against the system's CA store, accepted with the certificate as the CA bundle,
// refused again when the host name does not match the certificate. This is what proves that
// verification is on, not just configured.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "http/client.h"

namespace fhirbridge::testing {
namespace {

struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertificateDeleter {
  void operator()(X509* certificate) const { X509_free(certificate); }
};
struct ContextDeleter {
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};

// A P-256 key and a self-signed certificate for 127.0.0.1 (an IP address SAN only).
struct SelfSigned {
  std::unique_ptr<EVP_PKEY, KeyDeleter> key;
  std::unique_ptr<X509, CertificateDeleter> certificate;
};

SelfSigned MakeCertificate() {
  SelfSigned made;
  made.key.reset(EVP_EC_gen("P-256"));
  made.certificate.reset(X509_new());
  X509* certificate = made.certificate.get();
  X509_set_version(certificate, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1);
  X509_gmtime_adj(X509_getm_notBefore(certificate), -60);
  X509_gmtime_adj(X509_getm_notAfter(certificate), 3600);
  X509_set_pubkey(certificate, made.key.get());
  X509_NAME* name = X509_get_subject_name(certificate);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("fhirbridge test"), -1, -1, 0);
  X509_set_issuer_name(certificate, name);
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, certificate, certificate, nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"},
                                   std::pair{NID_basic_constraints, "CA:TRUE"}}) {
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    X509_add_ext(certificate, extension, -1);
    X509_EXTENSION_free(extension);
  }
  X509_sign(certificate, made.key.get(), EVP_sha256());
  return made;
}

// Answers every connection that completes a handshake with "200 ok", until destroyed.
class TlsServer {
 public:
  explicit TlsServer(const SelfSigned& identity) : context_(SSL_CTX_new(TLS_server_method())) {
    SSL_CTX_use_certificate(context_.get(), identity.certificate.get());
    SSL_CTX_use_PrivateKey(context_.get(), identity.key.get());
    // A client that refuses the certificate closes the socket mid-handshake; OpenSSL's alert
    // write on it would raise SIGPIPE and kill the whole test binary.
    std::signal(SIGPIPE, SIG_IGN);
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    listen(listener_, 8);
    socklen_t length = sizeof address;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }

  ~TlsServer() {
    stopping_ = true;
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
  }

  int port() const { return port_; }
  int handshakes() const { return handshakes_; }

 private:
  void Serve() {
    while (!stopping_) {
      const int connection = accept(listener_, nullptr, nullptr);
      if (connection < 0) return;
      SSL* ssl = SSL_new(context_.get());
      SSL_set_fd(ssl, connection);
      if (SSL_accept(ssl) == 1) {
        ++handshakes_;
        char buffer[4096];
        std::string request;
        while (request.find("\r\n\r\n") == std::string::npos) {
          const int read = SSL_read(ssl, buffer, sizeof buffer);
          if (read <= 0) break;
          request.append(buffer, static_cast<std::size_t>(read));
        }
        const std::string answer =
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        SSL_write(ssl, answer.data(), static_cast<int>(answer.size()));
        SSL_shutdown(ssl);
      }
      ERR_clear_error();
      SSL_free(ssl);
      close(connection);
    }
  }

  std::unique_ptr<SSL_CTX, ContextDeleter> context_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> handshakes_{0};
  std::thread thread_;
};

class HttpClientTlsTest : public ::testing::Test {
 protected:
  HttpClientTlsTest() : identity_(MakeCertificate()), server_(identity_) {
    bundle_ = std::filesystem::temp_directory_path() /
              ("fhirbridge-tls-" + std::to_string(getpid()) + ".pem");
    FILE* file = std::fopen(bundle_.c_str(), "w");
    PEM_write_X509(file, identity_.certificate.get());
    std::fclose(file);
  }
  ~HttpClientTlsTest() override { std::filesystem::remove(bundle_); }

  base::Result<http::ClientResponse> Get(const std::string& host, const std::string& ca_bundle) {
    http::ClientOptions options;
    options.ca_bundle = ca_bundle;
    http::Client client(options);
    http::ClientRequest request{
        "GET", "https://" + host + ":" + std::to_string(server_.port()) + "/metadata", {}, {}};
    request.timeout = std::chrono::milliseconds(5000);
    return client.Send(request);
  }

  SelfSigned identity_;
  TlsServer server_;
  std::filesystem::path bundle_;
};

TEST_F(HttpClientTlsTest, AnUntrustedCertificateIsRefused) {
  const auto response = Get("127.0.0.1", "");
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code, base::ErrorCode::kIoFailure);
  EXPECT_NE(response.error().diagnostic.find("https://127.0.0.1"), std::string::npos);
  EXPECT_NE(response.error().diagnostic.find("SSL"), std::string::npos)
      << "refused by verification, not by the network: " << response.error().diagnostic;
}

TEST_F(HttpClientTlsTest, TheCertificateIsTrustedThroughTheCaBundleGiven) {
  const auto response = Get("127.0.0.1", bundle_.string());
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "ok");
}

TEST_F(HttpClientTlsTest, AHostNameTheCertificateDoesNotNameIsRefused) {
  // The certificate names the address 127.0.0.1, not "localhost".
  const auto response = Get("localhost", bundle_.string());
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code, base::ErrorCode::kIoFailure);
  EXPECT_NE(response.error().diagnostic.find("SSL"), std::string::npos)
      << "refused by verification, not by the network: " << response.error().diagnostic;
}

}  // namespace
}  // namespace fhirbridge::testing
