// custom-notifier — a team's own notifier, PagerDuty's Events API v2 (PagerDutyNotifier.swift
// beside this file), written against the CarbonRecovery module alone and shipped as a notifier
// plugin: `carbon-recovery` runs it for each delivery, so the CLI needs no rebuild to use it.
//
// Install it where carbon-recovery can find it, and name it in the policy:
//
//   swift build -c release --product custom-notifier
//   install -m 0755 .build/release/custom-notifier /usr/local/lib/carbon-recovery/notifiers/carbon-recovery-notifier-pagerduty
//
//   notifiers:
//     - name: oncall
//       type: process
//       settings:
//         plugin: pagerduty                        # or command: /absolute/path/to/custom-notifier
//         env.PAGERDUTY_ROUTING_KEY: env:PD_ROUTING_KEY   # the only secret it gets, in its environment
//
//   carbon-recovery run --config carbon-recovery.yaml --notifier-plugin-dir /usr/local/lib/carbon-recovery/notifiers
//
// The outbox then delivers to it like to a built-in notifier: retries with backoff (exit 75),
// dead letters (any other failure), idempotency keys (PagerDuty's dedup_key here), a time limit,
// every try audited. The protocol — a versioned JSON request on standard input, the answer in
// the exit status — is in docs/notifications.md; `NotifierPlugin.serve` does all of it.
//
// PAGERDUTY_EVENTS_URL points it at another receiver (the tests use a local one). A Swift tool
// of your own can use PagerDutyNotifier in process instead: register it in a NotifierRegistry
// (`registry.register(type: "pagerduty") { try PagerDutyNotifier(configuration: $0) }`) or hand
// an instance to RecoveryCoordinator's `notifiers:`.
import CarbonRecovery
import Foundation

await NotifierPlugin.serve { name in
    let environment = ProcessInfo.processInfo.environment
    guard let routingKey = environment["PAGERDUTY_ROUTING_KEY"], !routingKey.isEmpty else {
        // Permanent: retrying cannot help until the policy passes the key (env.PAGERDUTY_ROUTING_KEY).
        throw NotifierError.permanent("PAGERDUTY_ROUTING_KEY is not set: give the notifier entry env.PAGERDUTY_ROUTING_KEY")
    }
    var url = PagerDutyNotifier.eventsAPI
    if let text = environment["PAGERDUTY_EVENTS_URL"], !text.isEmpty {
        guard let custom = URL(string: text), custom.scheme == "http" || custom.scheme == "https" else {
            throw NotifierError.permanent("PAGERDUTY_EVENTS_URL is not an http(s) URL")
        }
        url = custom
    }
    return PagerDutyNotifier(name: name, routingKey: SecretValue(routingKey), url: url)
}
