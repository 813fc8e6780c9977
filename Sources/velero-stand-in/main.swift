// velero-stand-in — a stand-in for Velero's server in the sandbox. NOT Velero.
//
// It watches the velero.io/v1 objects in the cluster and does what Velero's server would do
// with them (see VeleroStandIn), reading and writing the same bucket layout. It reaches the
// cluster the way the CLI does (CARBON_RECOVERY_KUBECONFIG, else KUBECONFIG) and its storage
// the way Velero does: from each BackupStorageLocation — `config.s3Url`, `config.region`,
// `config.profile`, bucket and prefix — with the AWS-format credentials in the location's
// secret (`spec.credential`, else `cloud-credentials`/`cloud`), read again for every
// operation. Nothing about storage comes from its environment. In the sandbox it runs as
// Velero's own service account (a token `scripts/sandbox` issues, bound to the roles
// `carbon-recovery deploy` renders), and the sandbox records it as the `velero` Deployment
// (an object only: the sandbox runs no containers) so that `carbon-recovery doctor` finds it.
//
//   velero-stand-in [--namespace velero] [--validation-interval-seconds 10] [--schedule-interval-seconds 2]
//                   [--gc-interval-seconds 5] [--sync-interval-seconds 5]      (0 switches a controller off)
import CarbonRecovery
import CarbonRecoveryKubectl
import CarbonRecoveryMinIO
import CarbonRecoveryVeleroStandIn
import Foundation
import Logging

var namespace = "velero"
var intervals = VeleroStandIn.Intervals()
let usage = "usage: velero-stand-in [--namespace velero] [--validation-interval-seconds 10] [--schedule-interval-seconds 2] [--gc-interval-seconds 5] [--sync-interval-seconds 5]   (0: off; a stand-in for Velero's server, for the sandbox)"
/// A number of seconds; 0 switches the controller off.
func seconds(_ option: String, _ value: String?) -> Duration? {
    guard let value, let number = Int(value), number >= 0 else {
        FileHandle.standardError.write(Data("velero-stand-in: \(option) wants a number of seconds (0: off)\n".utf8))
        exit(2)
    }
    return number == 0 ? nil : .seconds(number)
}
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--namespace": namespace = arguments.next() ?? namespace
    case "--validation-interval-seconds": intervals.validation = seconds(argument, arguments.next())
    case "--schedule-interval-seconds": intervals.schedules = seconds(argument, arguments.next())
    case "--gc-interval-seconds": intervals.garbageCollection = seconds(argument, arguments.next())
    case "--sync-interval-seconds": intervals.sync = seconds(argument, arguments.next())
    case "-h", "--help":
        print(usage)
        exit(0)
    default:
        FileHandle.standardError.write(Data("velero-stand-in: unknown argument \(argument)\n".utf8))
        exit(2)
    }
}

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .info
    return handler
}
let logger = Logger(label: "velero-stand-in")

do {
    let cluster = try KubectlClusterClient(configuration: .fromEnvironment())
    // Velero's AWS object store plugin, for S3-compatible storage: endpoint, region, profile and
    // server-side encryption from the location's config (the SSE-C key from the file it names,
    // as the plugin reads it inside Velero's pod), keys from its secret, the CA from caCertRef.
    let storage: VeleroStandIn.StorageResolver = { location in
        guard let endpoint = location.config["s3Url"], !endpoint.isEmpty else {
            throw RecoveryError(.invalidInput, "storage location \(location.name) has no config.s3Url (the stand-in speaks to S3-compatible storage only)", target: location.name)
        }
        guard let credential = location.credential, let text = String(bytes: credential, encoding: .utf8) else {
            throw RecoveryError(.unauthorized, "storage location \(location.name) has no credentials: name a secret in spec.credential or create velero/cloud-credentials", target: location.name)
        }
        let credentials = try S3Credentials(credentialsFile: text, profile: location.config["profile"] ?? "default", source: location.credentialSource ?? location.name)
        // Retries add up to at least ~12 s (10 attempts, waits from 0.25 s doubling to 4 s, each
        // at least half its ceiling): the sandbox restarts its S3 server to change the keys it
        // accepts (`scripts/sandbox s3-keys`), which a MinIO does not need, and a backup in
        // flight must ride that out. Velero's AWS plugin retries less (the SDK's standard 3).
        return try MinIOStorageBackend(configuration: .init(
            endpoint: endpoint, bucket: location.bucket, region: location.config["region"] ?? "us-east-1", credentials: .fixed(credentials),
            maximumAttempts: 10, retryBaseDelay: .milliseconds(250), retryMaximumDelay: .seconds(4),
            encryption: try location.encryption.storageEncryption(), caCertificates: location.caCertificates))
    }
    let server = try await cluster.identity().server ?? "?"
    logger.info("velero-stand-in watching", metadata: ["namespace": "\(namespace)", "server": "\(server)"])
    let standIn = VeleroStandIn(cluster: cluster, namespace: namespace, storage: storage, logger: logger)
    // SIGTERM and SIGINT cancel the run, so every kubectl watch it started is stopped too
    // (they run in process groups of their own and would otherwise outlive us).
    let run = Task { try await standIn.run(intervals: intervals) }
    var signalSources: [any DispatchSourceSignal] = []
    for number in [SIGTERM, SIGINT] {
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler { run.cancel() }
        source.resume()
        signalSources.append(source)
    }
    let outcome = await run.result
    withExtendedLifetime(signalSources) {}
    if case .failure(let error) = outcome, !(error is CancellationError), !Task.isCancelled, !run.isCancelled {
        throw error
    }
    logger.info("velero-stand-in stopped")
} catch {
    logger.critical("velero-stand-in stopped", metadata: ["error": "\(error)"])
    exit(1)
}
