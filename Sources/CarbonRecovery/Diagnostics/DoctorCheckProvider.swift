/// Checks a component contributes to ``RecoveryDoctor``: the backup engine's installation (for
/// Velero: its namespace, CRDs, deployment and storage locations), or anything else an embedder
/// wants in the same report.
///
/// ```swift
/// struct QuotaChecks: DoctorCheckProvider {
///     let doctorCheckTitles = [(id: "quota.backups", title: "Backup quota left")]
///     func doctorChecks() async -> [DoctorCheck] {
///         [await DoctorCheck.evaluating(id: "quota.backups", title: "Backup quota left") { (.pass, "42 of 100 used", nil) }]
///     }
/// }
/// ```
///
/// ## Implementation requirements
/// - ``doctorChecks()`` is read-only and never throws: a check that could not run is a `fail`
///   with the error in its detail (``DoctorCheck/evaluating(id:title:_:)`` does that).
/// - ``doctorCheckTitles`` lists the same ids, in the same order, as ``doctorChecks()`` returns.
/// - Details and fixes never carry a credential.
public protocol DoctorCheckProvider: Sendable {
    /// The ids and titles of the checks, in order. The doctor reports them as `skip` when the
    /// cluster cannot be reached, without calling ``doctorChecks()``.
    var doctorCheckTitles: [(id: String, title: String)] { get }
    /// Runs the checks; called only when the cluster answered.
    func doctorChecks() async -> [DoctorCheck]
}

extension DoctorCheck {
    /// Runs one check: the body's status, detail and fix; a thrown error becomes a `fail` with the
    /// error (redacted) as its detail and a fix that suits its code.
    public static func evaluating(
        id: String, title: String, _ body: () async throws -> (Status, String, String?)
    ) async -> DoctorCheck {
        do {
            let (status, detail, fix) = try await body()
            return DoctorCheck(id: id, title: title, status: status, detail: detail, fix: fix)
        } catch {
            return DoctorCheck(id: id, title: title, status: .fail, detail: RecoveryDoctor.describe(error), fix: RecoveryDoctor.clusterFix(error))
        }
    }
}
