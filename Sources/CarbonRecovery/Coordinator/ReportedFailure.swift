/// A result that is also a failure, thrown by the body of
/// ``RecoveryCoordinator/perform(_:target:parameters:_:)`` (or ``OperationAudit``'s): the
/// operation ran to its end but found a problem a person must see — a drill whose restored data
/// did not match, a recovery over its RTO. `perform` records a `failure` outcome with
/// ``details`` and ``message``, and returns ``result`` instead of throwing, so the caller still
/// gets the report.
///
/// ```swift
/// let report = try await coordinator.perform("drill.run", target: "drill/db", parameters: [:]) { _, _ in
///     let report = try await runMyDrill()
///     guard report.passed else { throw ReportedFailure(result: report, details: report.json, message: report.problems.joined(separator: "; ")) }
///     return (report, report.json)
/// }
/// ```
public struct ReportedFailure<Result: Sendable>: Error {
    /// What `perform` returns.
    public var result: Result
    /// Recorded with the `failure` outcome.
    public var details: JSONValue
    /// The outcome's error message.
    public var message: String

    /// Creates the failure.
    public init(result: Result, details: JSONValue = [:], message: String) {
        self.result = result
        self.details = details
        self.message = message
    }
}
