// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "CarbonRecovery",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "CarbonRecovery", targets: ["CarbonRecovery"]),
        .library(name: "CarbonRecoveryAudit", targets: ["CarbonRecoveryAudit"]),
        .library(name: "CarbonRecoveryTestKit", targets: ["CarbonRecoveryTestKit"]),
        .library(name: "CarbonRecoveryKubectl", targets: ["CarbonRecoveryKubectl"]),
        .library(name: "CarbonRecoveryMinIO", targets: ["CarbonRecoveryMinIO"]),
        .library(name: "CarbonRecoveryVelero", targets: ["CarbonRecoveryVelero"]),
        .library(name: "CarbonRecoveryPolicy", targets: ["CarbonRecoveryPolicy"]),
        .library(name: "CarbonRecoveryScheduler", targets: ["CarbonRecoveryScheduler"]),
        .library(name: "CarbonRecoveryNotifiers", targets: ["CarbonRecoveryNotifiers"]),
        .library(name: "CarbonRecoveryMetrics", targets: ["CarbonRecoveryMetrics"]),
        .library(name: "CarbonRecoveryPostgres", targets: ["CarbonRecoveryPostgres"]),
        .library(name: "CarbonRecoveryReport", targets: ["CarbonRecoveryReport"]),
        .executable(name: "carbon-recovery", targets: ["carbon-recovery"]),
        .executable(name: "carbon-bench", targets: ["carbon-bench"]),
        .plugin(name: "AuditReport", targets: ["AuditReport"]),
        .plugin(name: "RenderManifests", targets: ["RenderManifests"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // Core: value types, validation, protocols, the coordinator. swift-log and swift-metrics (the API only) only.
        .target(
            name: "CarbonRecovery",
            dependencies: [.product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics")]
        ),
        // The system libsqlite3 (Debian: libsqlite3-dev). No SQLite wrapper package.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // The package's one SQLite layer (`package` access only): a connection per serial queue on
        // threads of its own, so no SQLite call blocks Swift's cooperative pool; private (0600) files.
        .target(
            name: "CarbonRecoverySQLite",
            dependencies: ["CarbonRecovery", "CSQLite"]
        ),
        // The append-only, tamper-evident audit trail.
        .target(
            name: "CarbonRecoveryAudit",
            dependencies: [
                "CarbonRecovery",
                "CarbonRecoverySQLite",
                "CSQLite",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The default ClusterClient: kubectl, run through swift-subprocess with argv arrays only.
        .target(
            name: "CarbonRecoveryKubectl",
            dependencies: [
                "CarbonRecovery",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The default StorageBackend: MinIO's S3 API over AsyncHTTPClient, signed with SigV4.
        .target(
            name: "CarbonRecoveryMinIO",
            dependencies: [
                "CarbonRecovery",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // Already built for AsyncHTTPClient; named for a private CA's trust roots.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // gzip (compress-nio, system zlib), `package` access only: Velero's tarballs and compressed WAL.
        .target(
            name: "CarbonRecoveryCompression",
            dependencies: [
                "CarbonRecovery",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The default BackupEngine: Velero's velero.io/v1 objects over any ClusterClient.
        // Reads Velero's tarballs and hashes artifacts (swift-crypto) to validate backups.
        .target(
            name: "CarbonRecoveryVelero",
            dependencies: [
                "CarbonRecovery",
                "CarbonRecoveryCompression",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // PostgreSQL point-in-time recovery: the WAL archive (segments with their SHA-256, optionally
        // gzip-compressed) on any StorageBackend, base backups and restores through PostgreSQL's own
        // programs (swift-subprocess, argument arrays only).
        .target(
            name: "CarbonRecoveryPostgres",
            dependencies: [
                "CarbonRecovery",
                "CarbonRecoveryCompression",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        // The policy file (carbon-recovery.yaml) read with Yams into the core's value types, with
        // errors that name the file, line and field.
        .target(
            name: "CarbonRecoveryPolicy",
            dependencies: ["CarbonRecovery", "CarbonRecoveryVelero", .product(name: "Yams", package: "Yams")]
        ),
        // The in-process cron scheduler (`carbon-recovery run`): validation of new backups, RPO checks,
        // cleanup and drills, as a swift-service-lifecycle Service with an injected wall clock.
        .target(
            name: "CarbonRecoveryScheduler",
            dependencies: [
                "CarbonRecovery",
                "CarbonRecoveryPostgres",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The default notifiers (webhook with an HMAC signature, Slack, Alertmanager, log) and the durable
        // outbox that delivers to them: SQLite beside the audit trail, retries, dead letters, dedupe, rate limits.
        .target(
            name: "CarbonRecoveryNotifiers",
            dependencies: [
                "CarbonRecovery",
                "CarbonRecoverySQLite",
                "CSQLite",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Prometheus exposition of the swift-metrics the SDK emits (`run --metrics-port`): a loopback
        // The evidence report: RPO, RTO and drills over time from the audit trail, the policy and
        // the archives, as one self-contained HTML page (inline SVG) and JSON.
        .target(
            name: "CarbonRecoveryReport",
            dependencies: ["CarbonRecovery", "CarbonRecoveryPostgres"]
        ),
        // HTTP endpoint over SwiftNIO serving swift-prometheus's registry.
        .target(
            name: "CarbonRecoveryMetrics",
            dependencies: [
                "CarbonRecovery",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A Velero stand-in for the sandbox (NOT Velero): implements Velero's server side over any
        // ClusterClient and StorageBackend so the sandbox can run backups and restores for real.
        .target(
            name: "CarbonRecoveryVeleroStandIn",
            dependencies: [
                "CarbonRecovery", "CarbonRecoveryVelero", "CarbonRecoveryCompression",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "velero-stand-in",
            dependencies: [
                "CarbonRecovery", "CarbonRecoveryKubectl", "CarbonRecoveryMinIO", "CarbonRecoveryVeleroStandIn",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // In-memory doubles of every protocol and the conformance suites.
        .target(
            name: "CarbonRecoveryTestKit",
            dependencies: [
                "CarbonRecovery",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The CLI: argument parsing and printing only.
        .executableTarget(
            name: "carbon-recovery",
            dependencies: [
                "CarbonRecovery",
                "CarbonRecoveryAudit",
                "CarbonRecoveryPolicy",
                "CarbonRecoveryKubectl",
                "CarbonRecoveryMinIO",
                "CarbonRecoveryVelero",
                "CarbonRecoveryScheduler",
                "CarbonRecoveryNotifiers",
                "CarbonRecoveryMetrics",
                "CarbonRecoveryPostgres",
                "CarbonRecoveryReport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // The witness's HTTP server and client (`witness serve`, `audit cosign`); already built for the MinIO backend.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Release-mode benchmarks, each figure beside a baseline measured in the same run.
        .executableTarget(
            name: "carbon-bench",
            dependencies: [
                "CarbonRecovery",
                "CarbonRecoveryAudit",
                "CarbonRecoveryKubectl",
                "CarbonRecoveryMinIO",
                "CarbonRecoveryVelero",
                "CarbonRecoveryVeleroStandIn",
                "CarbonRecoveryCompression",
                "CarbonRecoveryNotifiers",
                "CarbonRecoveryPolicy",
                "CarbonRecoveryReport",
                .product(name: "Logging", package: "swift-log"),
                "CSQLite",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        // Examples: thin executables that show how to embed the SDK.
        .executableTarget(
            name: "embed-sdk",
            dependencies: [
                "CarbonRecovery", "CarbonRecoveryAudit", "CarbonRecoveryKubectl", "CarbonRecoveryScheduler", "CarbonRecoveryMinIO", "CarbonRecoveryVelero",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/embed-sdk"
        ),
        .executableTarget(
            name: "audit-review",
            dependencies: ["CarbonRecovery", "CarbonRecoveryAudit"],
            path: "Examples/audit-review"
        ),
        .executableTarget(name: "custom-notifier", dependencies: ["CarbonRecovery"], path: "Examples/custom-notifier"),
        // SwiftPM command plugin: `swift package audit-report` (calls the CLI tool target).
        .plugin(
            name: "AuditReport",
            capability: .command(
                intent: .custom(verb: "audit-report", description: "Verify the audit trail and print its statistics"),
                permissions: []
            ),
            dependencies: ["carbon-recovery"]
        ),
        // SwiftPM command plugin: `swift package render-manifests --config FILE` (calls the CLI tool target).
        .plugin(
            name: "RenderManifests",
            capability: .command(
                intent: .custom(verb: "render-manifests", description: "Write the guide's Velero manifests from a recovery policy"),
                permissions: [.writeToPackageDirectory(reason: "writes k8s/storage/velero-*.yaml from the recovery policy")]
            ),
            dependencies: ["carbon-recovery"]
        ),
        .testTarget(
            name: "CarbonRecoveryTests",
            dependencies: [
                "CarbonRecovery", "CarbonRecoveryTestKit", "CarbonRecoveryPolicy", "CarbonRecoveryVelero", "CarbonRecoveryPostgres", "CarbonRecoveryCompression", "TestSupport",
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.copy("Policies")]
        ),
        .testTarget(
            name: "CarbonRecoveryAuditTests",
            dependencies: [
                "CarbonRecovery", "CarbonRecoveryAudit", "CarbonRecoveryTestKit", "CSQLite", "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The in-process scheduler on a simulated clock, with a real SQLite audit trail.
        .testTarget(
            name: "CarbonRecoverySchedulerTests",
            dependencies: ["CarbonRecovery", "CarbonRecoveryScheduler", "CarbonRecoveryAudit", "CarbonRecoveryPostgres", "CarbonRecoveryTestKit", "TestSupport"]
        ),
        // The outbox on real SQLite files; the notifiers against a real flaky receiver and a real Alertmanager.
        .testTarget(
            name: "CarbonRecoveryNotifiersTests",
            dependencies: [
                "CarbonRecovery", "CarbonRecoveryNotifiers", "CarbonRecoveryAudit", "CarbonRecoveryPolicy", "CarbonRecoverySQLite", "CarbonRecoveryTestKit", "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "CarbonRecoveryCLITests",
            dependencies: ["CarbonRecovery", "CarbonRecoveryAudit", "CarbonRecoveryPolicy", "TestSupport"]
        ),
        // The evidence report from a real SQLite trail; its page in a real headless Chromium.
        .testTarget(
            name: "CarbonRecoveryReportTests",
            dependencies: ["CarbonRecovery", "CarbonRecoveryAudit", "CarbonRecoveryPolicy", "CarbonRecoveryReport", "CarbonRecoveryTestKit", "TestSupport"]
        ),
        // Against the sandbox's real servers (scripts/sandbox): kubectl + kube-apiserver, S3.
        .testTarget(
            name: "CarbonRecoveryIntegrationTests",
            dependencies: [
                "CarbonRecovery", "CarbonRecoveryAudit", "CarbonRecoveryKubectl", "CarbonRecoveryScheduler", "CarbonRecoveryMinIO", "CarbonRecoveryVelero", "CarbonRecoveryVeleroStandIn",
                "CarbonRecoveryPostgres", "CarbonRecoveryCompression", "CarbonRecoveryTestKit", "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Helpers shared by the test targets (temporary folders, running the built executables).
        .target(
            name: "TestSupport",
            dependencies: ["CarbonRecovery", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport"
        ),
    ],
    swiftLanguageModes: [.v6]
)
