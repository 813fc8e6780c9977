// custom-notifier — a team's own notifier, PagerDuty's Events API v2, written against the
// CarbonRecovery module alone (see PagerDutyNotifier.swift beside this file). It builds the
// notifier the two ways a team can, then delivers one sample `backup-failed` event through each.
//
// Against PagerDuty: on a PagerDuty service, add an "Events API v2" integration and copy its
// integration key (the routing key). Then, from the package root:
//
//   export PAGERDUTY_ROUTING_KEY=<the integration key>      # never printed, never in an error
//   swift run custom-notifier
//
// This opens a real, critical incident on that service (both deliveries carry the same
// dedup_key, so PagerDuty makes one incident of them); resolve it in PagerDuty afterwards.
// PAGERDUTY_EVENTS_URL points the example at another receiver (the tests use a local one).
// It prints one line per delivery and exits 0; on missing settings or a failed delivery it
// prints `error: …` on standard error and exits 1.
//
// Wiring it into your own tool: build the notifiers from your policy and hand them to the
// coordinator, which then reports failed backups, slow backups, finished restores, RPO
// breaches and drill results to PagerDuty:
//
//   var registry = NotifierRegistry()              // or NotifierRegistry.standard() from CarbonRecoveryNotifiers
//   registry.register(type: "pagerduty") { try PagerDutyNotifier(configuration: $0) }
//   let notifiers = try registry.makeNotifiers(for: policy)   // policy `notifiers:` entries with `type: pagerduty`
//   let coordinator = RecoveryCoordinator(
//       engine: engine, storage: storage, audit: trail, notifiers: notifiers, logger: logger)
//
// The coordinator calls each notifier once and only logs a failure. For retries with backoff,
// dead letters and an audited record of every delivery, put the durable outbox of
// CarbonRecoveryNotifiers in between: `NotificationOutbox(path:routes:audit:)` with a
// `NotificationRoute(PagerDutyNotifier(…))`, and `notifiers: [outbox]`.
import CarbonRecovery
import Foundation

/// Writes `error: …` to standard error and exits 1.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    exit(1)
}

let environment = ProcessInfo.processInfo.environment

// (a) Through a registry: the way a policy file's `notifiers:` entry becomes a notifier. The
// settings hold references (`env:NAME`, `file:/path`), never the secret itself; the registry
// resolves them against the environment when it builds the notifier.
var registry = NotifierRegistry()
registry.register(type: "pagerduty") { try PagerDutyNotifier(configuration: $0) }
let policy = NotifierPolicy(
    name: "oncall", type: "pagerduty",
    settings: ["routingKey": "env:PAGERDUTY_ROUTING_KEY", "url": "env:PAGERDUTY_EVENTS_URL"])
// A policy file would leave `url` out to mean PagerDuty itself; here an unset
// PAGERDUTY_EVENTS_URL means the same.
var resolving = environment
if resolving["PAGERDUTY_EVENTS_URL", default: ""].isEmpty {
    resolving["PAGERDUTY_EVENTS_URL"] = PagerDutyNotifier.eventsAPI.absoluteString
}
let fromRegistry: any Notifier
do {
    fromRegistry = try registry.makeNotifier(policy, environment: resolving)
} catch {
    // RecoveryError names the setting and the variable, never a value.
    fail("\(error)")
}

// (b) Directly, as an instance: for a tool that has its settings at hand and no policy file.
guard let routingKey = environment["PAGERDUTY_ROUTING_KEY"], !routingKey.isEmpty else {
    fail("PAGERDUTY_ROUTING_KEY is not set: export the integration key of a PagerDuty Events API v2 integration")
}
guard let url = URL(string: resolving["PAGERDUTY_EVENTS_URL"]!) else {
    fail("PAGERDUTY_EVENTS_URL is not a URL")
}
let direct: any Notifier = PagerDutyNotifier(name: "oncall-direct", routingKey: SecretValue(routingKey), url: url)

// One sample event, as the coordinator raises it when a backup ends `Failed`. The explicit
// idempotency key becomes PagerDuty's dedup_key: the second delivery below adds nothing new.
let event = RecoveryEvent(
    kind: .backupFailed, severity: .critical, target: "backup/daily-20261129020000",
    summary: "backup 'daily-20261129020000' finished Failed with 3 errors and 0 warnings (custom-notifier example)",
    details: ["phase": "Failed", "errors": "3", "warnings": "0", "example": "custom-notifier"],
    occurredAt: Date(), idempotencyKey: "backup-failed:backup/daily-20261129020000:custom-notifier-example")

for notifier in [fromRegistry, direct] {
    do {
        try await notifier.deliver(event)
        print("delivered \(event.kind) to \(notifier.name) (pagerduty)")
    } catch {
        // A NotifierError reads "permanent delivery failure: …" or "temporary delivery
        // failure: …"; the outbox would dead-letter the first and retry the second.
        fail("could not deliver \(event.kind) to \(notifier.name) (pagerduty): \(error)")
    }
}
