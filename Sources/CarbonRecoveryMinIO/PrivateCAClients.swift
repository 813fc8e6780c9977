import AsyncHTTPClient
import CarbonRecovery
import Crypto
import Foundation
import NIOSSL
import Synchronization

/// HTTP clients that also trust a private CA (a location's `caCert`), one per distinct CA
/// bundle and kept for the process like ``MinIOStorageBackend/defaultHTTPClient``: a caller
/// that makes a backend per operation (the stand-in reads its location afresh each time) gets
/// the same client and its connection pool back, not a new one to leak.
final class PrivateCAClients: Sendable {
    static let shared = PrivateCAClients()

    private let clients = Mutex<[String: HTTPClient]>([:])

    /// The client for this PEM bundle: the default client's settings, the system's trust
    /// roots, and the bundle's certificates added to them (as Velero's AWS plugin adds
    /// `caCert` to the system pool).
    ///
    /// - Throws: `RecoveryError.Code.invalidInput` when the bundle holds no PEM certificate.
    func client(trusting pem: [UInt8]) throws -> HTTPClient {
        let digest = SHA256.hash(data: pem).map { String(format: "%02x", $0) }.joined()
        if let client = clients.withLock({ $0[digest] }) { return client }
        let certificates = try Self.certificates(pem)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.additionalTrustRoots = [.certificates(certificates)]
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        let made = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let (client, spare) = clients.withLock { clients -> (HTTPClient, HTTPClient?) in
            if let existing = clients[digest] { return (existing, made) }   // another caller won the race
            clients[digest] = made
            return (made, nil)
        }
        if let spare { spare.shutdown { _ in } }
        return client
    }

    /// The certificates of a PEM bundle, or a clear error: not PEM, no certificate in it, or a
    /// certificate that does not parse. The bytes are never repeated in the message.
    static func certificates(_ pem: [UInt8]) throws -> [NIOSSLCertificate] {
        guard String(decoding: pem, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else {
            throw RecoveryError.invalidInput("the CA bundle (\(pem.count) bytes) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(pem)
        } catch {
            throw RecoveryError.invalidInput("the CA bundle does not read as PEM certificates: \(error)")
        }
        guard !certificates.isEmpty else { throw RecoveryError.invalidInput("the CA bundle holds no certificate") }
        return certificates
    }
}
