import CarbonRecovery
import CarbonRecoveryVelero
import Foundation
import Yams

/// Where a field was written in the policy file.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    /// The file.
    public var file: String
    /// Line, from 1.
    public var line: Int
    /// Column, from 1.
    public var column: Int

    /// Creates a location.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`.
    public var description: String { "\(file):\(line):\(column)" }
}

/// A policy file read into a `RecoveryPolicy`, with where each field was written.
///
/// ```swift
/// let document = try PolicyFile.load(path: "carbon-recovery.yaml")
/// for finding in document.lint() {
///     print("\(document.location(of: finding.field).map { "\($0): " } ?? "")\(finding)")
/// }
/// ```
///
/// The format is documented in `docs/policy.md`. Secrets are never written in the file: storage
/// credentials are an environment-variable pair, a credentials file or a Kubernetes secret
/// reference, and notifier settings that name a secret take `env:NAME` or `file:/path`.
public struct PolicyFile: Sendable {
    /// The policy.
    public var policy: RecoveryPolicy
    /// The file it was read from.
    public var file: String
    /// Field path (as in `PolicyFinding.field`) → where it was written.
    public var locations: [String: SourceLocation]
    /// Problems found while reading that are lint findings rather than syntax errors (a TTL
    /// Velero would reject); ``lint(_:)`` includes them.
    public var readFindings: [PolicyFinding]

    /// Reads and checks a policy file.
    ///
    /// - Throws: `RecoveryError.Code.invalidInput` with `file:line:column: field: problem`
    ///   for YAML that does not parse, a missing or unknown field, a value of the wrong type, a
    ///   cron, name, selector or duration that does not parse, or a secret written inline; `notFound`
    ///   when the file does not exist.
    public static func load(path: String) throws -> PolicyFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RecoveryError(.notFound, "the policy file \(path) does not exist or cannot be read", target: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw RecoveryError.invalidInput("\(path): the policy file is not UTF-8 text", target: path)
        }
        return try parse(text, file: path)
    }

    /// Reads a policy from text; `file` names it in errors.
    public static func parse(_ text: String, file: String = "carbon-recovery.yaml") throws -> PolicyFile {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw RecoveryError.invalidInput("\(file): the policy file is empty", target: file)
            }
            root = node
        } catch let error as YamlError {
            throw RecoveryError.invalidInput("\(file): not valid YAML: \(Self.describe(error))", target: file)
        }
        var reader = Reader(file: file)
        let policy = try reader.policy(root)
        return PolicyFile(policy: policy, file: file, locations: reader.locations, readFindings: reader.findings)
    }

    /// The findings of `PolicyLinter` plus those found while reading, errors first.
    public func lint(_ linter: PolicyLinter = PolicyLinter()) -> [PolicyFinding] {
        (readFindings + linter.lint(policy)).enumerated()
            .sorted { ($0.element.severity, $0.offset) < ($1.element.severity, $1.offset) }.map(\.element)
    }

    /// Where a field (or, failing that, its nearest enclosing field) was written.
    public func location(of field: String) -> SourceLocation? {
        var path = field
        while !path.isEmpty {
            if let location = locations[path] { return location }
            if let cut = path.lastIndex(where: { $0 == "." || $0 == "[" }) { path = String(path[..<cut]) } else { break }
        }
        return nil
    }

    static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): \(problem)"
        default:
            return String(describing: error)
        }
    }
}

/// Walks the YAML tree, recording where each field is and failing with the file, line and field.
struct Reader {
    let file: String
    var locations: [String: SourceLocation] = [:]
    var findings: [PolicyFinding] = []

    init(file: String) { self.file = file }

    func fail(_ node: Node?, _ path: String, _ message: String) -> RecoveryError {
        let place = node?.mark.map { "\(file):\($0.line):\($0.column)" } ?? file
        return RecoveryError.invalidInput("\(place): \(path): \(message)", target: file)
    }

    mutating func note(_ node: Node, _ path: String) {
        if let mark = node.mark { locations[path] = SourceLocation(file: file, line: mark.line, column: mark.column) }
    }

    /// A mapping whose keys are all allowed and whose required keys are present.
    mutating func mapping(_ node: Node, _ path: String, allowed: [String], required: [String] = []) throws -> [String: Node] {
        guard let mapping = node.mapping else { throw fail(node, path, "expected a mapping of \(allowed.joined(separator: ", "))") }
        var result: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.scalar?.string else { throw fail(key, path, "keys must be plain names") }
            let child = path.isEmpty ? name : "\(path).\(name)"
            guard allowed.contains(name) else {
                throw fail(key, child, "unknown field '\(name)'; expected one of \(allowed.joined(separator: ", "))")
            }
            guard result[name] == nil else { throw fail(key, child, "written twice") }
            result[name] = value
            note(value, child)
        }
        for name in required where result[name] == nil {
            throw fail(node, path.isEmpty ? name : "\(path).\(name)", "missing; it is required")
        }
        return result
    }

    func string(_ node: Node, _ path: String) throws -> String {
        guard let scalar = node.scalar else { throw fail(node, path, "expected a single value, not a list or mapping") }
        return scalar.string
    }

    func strings(_ node: Node?, _ path: String) throws -> [String] {
        guard let node else { return [] }
        guard let sequence = node.sequence else { throw fail(node, path, "expected a list such as [data-platform, vault-prod]") }
        return try sequence.map { try string($0, path) }
    }

    func bool(_ node: Node?, _ path: String) throws -> Bool? {
        guard let node else { return nil }
        switch try string(node, path).lowercased() {
        case "true", "yes": return true
        case "false", "no": return false
        case let other: throw fail(node, path, "expected true or false, not '\(other)'")
        }
    }

    func int(_ node: Node?, _ path: String) throws -> Int? {
        guard let node else { return nil }
        let text = try string(node, path)
        guard let value = Int(text), value >= 0 else { throw fail(node, path, "expected a whole number of 0 or more, not '\(text)'") }
        return value
    }

    func duration(_ node: Node, _ path: String) throws -> GoDuration {
        do {
            return try GoDuration(parsing: try string(node, path))
        } catch let error as RecoveryError {
            throw fail(node, path, error.message)
        }
    }

    /// A TTL: one Velero would reject becomes a finding (rule `ttl-rejected`) and is left out.
    mutating func ttl(_ node: Node?, _ path: String) throws -> GoDuration? {
        guard let node else { return nil }
        let text = try string(node, path)
        do {
            let ttl = try GoDuration(parsing: text)
            guard ttl.nanoseconds >= 0 else {
                findings.append(PolicyFinding(
                    rule: "ttl-rejected", severity: .error, field: path,
                    evidence: "TTL '\(text)' is negative: every backup would expire as it is made.", fix: "use a positive duration such as 168h0m0s."))
                return nil
            }
            return ttl
        } catch {
            findings.append(PolicyFinding(
                rule: "ttl-rejected", severity: .error, field: path,
                evidence: "'\(text)' is not a Go duration, so Velero rejects the backup (\(error.message)).",
                fix: "write hours, minutes and seconds, e.g. 720h0m0s for 30 days (Go durations have no 'd')."))
            return nil
        }
    }

    func cron(_ node: Node, _ path: String) throws -> CronSchedule {
        do {
            return try CronSchedule(parsing: try string(node, path))
        } catch let error as RecoveryError {
            throw fail(node, path, error.message)
        }
    }

    func checked<T>(_ node: Node, _ path: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as RecoveryError {
            throw fail(node, path, error.message)
        }
    }

    // MARK: The document

    mutating func policy(_ root: Node) throws -> RecoveryPolicy {
        let top = try mapping(root, "", allowed: ["storage", "schedules", "manual", "objectives", "drills", "alerts", "notifiers", "automation", "audit", "recovery", "access", "databases"], required: ["storage"])
        let storage = try self.storage(top["storage"]!)
        var schedules: [ScheduledBackup] = []
        for (index, node) in (top["schedules"]?.sequence.map(Array.init) ?? []).enumerated() {
            schedules.append(try schedule(node, "schedules[\(index)]"))
        }
        if let node = top["schedules"], node.sequence == nil { throw fail(node, "schedules", "expected a list of schedules") }
        var seen: Set<String> = []
        for (index, entry) in schedules.enumerated() where !seen.insert(entry.schedule.name).inserted {
            throw fail(top["schedules"]?.sequence?[index], "schedules[\(index)].name", "schedule '\(entry.schedule.name)' is defined twice")
        }
        var manualTTL: GoDuration?
        if let node = top["manual"] {
            let manual = try mapping(node, "manual", allowed: ["ttl"])
            manualTTL = try ttl(manual["ttl"], "manual.ttl")
        }
        var objectives: [RecoveryObjective] = []
        for (index, node) in (try sequence(top["objectives"], "objectives")).enumerated() {
            let path = "objectives[\(index)]"
            note(node, path)
            let fields = try mapping(node, path, allowed: ["class", "namespaces", "rto", "rpo"], required: ["class", "namespaces", "rto", "rpo"])
            let objective = RecoveryObjective(
                namespaceClass: try string(fields["class"]!, "\(path).class"), namespaces: try strings(fields["namespaces"], "\(path).namespaces"),
                rto: try duration(fields["rto"]!, "\(path).rto"), rpo: try duration(fields["rpo"]!, "\(path).rpo"))
            try checked(node, path) { try objective.validate() }
            objectives.append(objective)
        }
        let drills = try drills(top["drills"])
        var alerts = AlertPolicy()
        if let node = top["alerts"] {
            let fields = try mapping(node, "alerts", allowed: ["failureWindow", "slowBackup", "staleAfter"])
            if let value = fields["failureWindow"] { alerts.failureWindow = try duration(value, "alerts.failureWindow") }
            if let value = fields["slowBackup"] { alerts.slowBackup = try duration(value, "alerts.slowBackup") }
            if let value = fields["staleAfter"] { alerts.staleAfter = try duration(value, "alerts.staleAfter") }
        }
        var notifiers: [NotifierPolicy] = []
        for (index, node) in (try sequence(top["notifiers"], "notifiers")).enumerated() {
            let path = "notifiers[\(index)]"
            note(node, path)
            let fields = try mapping(node, path, allowed: ["name", "type", "settings"], required: ["name", "type"])
            var settings: [String: String] = [:]
            if let node = fields["settings"] {
                for (key, value) in try mapping(node, "\(path).settings", allowed: Self.anyKey(node)) {
                    let text = try string(value, "\(path).settings.\(key)")
                    if (AuditRedaction.isSecretKey(key) || key.lowercased().hasSuffix("url")) && !(text.hasPrefix("env:") || text.hasPrefix("file:")) {
                        throw fail(value, "\(path).settings.\(key)", "write a reference (env:NAME or file:/path), not the value: \(key) may carry a secret (webhook URLs hold tokens), and the policy file is not a secret store")
                    }
                    settings[key] = text
                }
            }
            notifiers.append(NotifierPolicy(name: try string(fields["name"]!, "\(path).name"), type: try string(fields["type"]!, "\(path).type"), settings: settings))
        }
        var automation = AutomationPolicy()
        if let node = top["automation"] {
            note(node, "automation")
            let fields = try mapping(node, "automation", allowed: ["validate", "rpoCheck", "cleanup"])
            func cadence(_ key: String) throws -> CronSchedule?? {
                guard let value = fields[key] else { return .none }
                note(value, "automation.\(key)")
                if value.scalar?.string == "off" { return .some(nil) }
                return .some(try cron(value, "automation.\(key)"))
            }
            if let value = try cadence("validate") { automation.validate = value }
            if let value = try cadence("rpoCheck") { automation.rpoCheck = value }
            if let value = try cadence("cleanup") { automation.cleanup = value }
        }
        let audit = try top["audit"].map { try self.audit($0) } ?? AuditPolicy()
        var recovery = ClusterRecoveryPolicy()
        if let node = top["recovery"] {
            note(node, "recovery")
            let fields = try mapping(node, "recovery", allowed: ["clusterResourcesSchedule", "maximumDataLoss"])
            if let value = fields["clusterResourcesSchedule"] {
                note(value, "recovery.clusterResourcesSchedule")
                let name = try string(value, "recovery.clusterResourcesSchedule")
                try checked(value, "recovery.clusterResourcesSchedule") { try KubernetesName.validateSubdomain(name, what: "schedule name") }
                recovery.clusterResourcesSchedule = name
            }
            if let value = fields["maximumDataLoss"] {
                note(value, "recovery.maximumDataLoss")
                let loss = try duration(value, "recovery.maximumDataLoss")
                guard loss.nanoseconds > 0 else { throw fail(value, "recovery.maximumDataLoss", "write a positive duration, e.g. 24h") }
                recovery.maximumDataLoss = loss
            }
        }
        var policy = RecoveryPolicy(
            storage: storage, schedules: schedules, manualBackupTTL: manualTTL, objectives: objectives, drills: drills, alerts: alerts, notifiers: notifiers,
            automation: automation, audit: audit)
        policy.recovery = recovery
        if let node = top["access"] { policy.access = try access(node) }
        policy.databases = try databases(top["databases"])
        return policy
    }

    /// The `access` section: groups of people, the two service accounts, custom resource groups.
    mutating func access(_ node: Node) throws -> AccessPolicy {
        note(node, "access")
        let fields = try mapping(node, "access", allowed: ["operators", "viewers", "serviceAccount", "veleroServiceAccount", "customResourceGroups"])
        var access = AccessPolicy()
        for (key, keyPath) in [("operators", \AccessPolicy.operatorGroups), ("viewers", \AccessPolicy.viewerGroups)] {
            guard let value = fields[key] else { continue }
            note(value, "access.\(key)")
            let groups = try strings(value, "access.\(key)")
            for group in groups where !Self.isGroupName(group) {
                throw fail(value, "access.\(key)", "'\(group)' is not a group name: 1 to 256 printable characters without spaces at either end")
            }
            guard Set(groups).count == groups.count else { throw fail(value, "access.\(key)", "a group is named twice") }
            access[keyPath: keyPath] = groups
        }
        if let shared = Set(access.operatorGroups).intersection(access.viewerGroups).sorted().first, let value = fields["viewers"] {
            throw fail(value, "access.viewers", "\(shared) is an operator group too; name each group once")
        }
        for (key, keyPath) in [("serviceAccount", \AccessPolicy.serviceAccount), ("veleroServiceAccount", \AccessPolicy.veleroServiceAccount)] {
            guard let value = fields[key] else { continue }
            note(value, "access.\(key)")
            let name = try string(value, "access.\(key)")
            try checked(value, "access.\(key)") { try KubernetesName.validateSubdomain(name, what: "service account name") }
            access[keyPath: keyPath] = name
        }
        if access.serviceAccount == access.veleroServiceAccount, let value = fields["serviceAccount"] ?? fields["veleroServiceAccount"] {
            throw fail(value, "access", "carbon-recovery and Velero need service accounts of their own (both are \(access.serviceAccount))")
        }
        if let value = fields["customResourceGroups"] {
            note(value, "access.customResourceGroups")
            let groups = try strings(value, "access.customResourceGroups")
            for group in groups {
                try checked(value, "access.customResourceGroups") { try KubernetesName.validateSubdomain(group, what: "API group") }
                if VeleroAccessRoles.kubernetesGroups.contains(group) {
                    throw fail(value, "access.customResourceGroups", "\(group) is one of Kubernetes' own groups, which are always covered; name custom resource groups only")
                }
                if group == "velero.io" { throw fail(value, "access.customResourceGroups", "velero.io is Velero's own group, covered by its own rules") }
            }
            access.customResourceGroups = groups
        }
        return access
    }

    /// A Kubernetes group name as an authenticator reports it: anything printable, but not
    /// empty, not padded and not absurdly long.
    static func isGroupName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 256 && name.trimmingCharacters(in: .whitespaces) == name
            && !name.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    static func anyKey(_ node: Node) -> [String] { node.mapping?.keys.compactMap { $0.scalar?.string } ?? [] }

    func sequence(_ node: Node?, _ path: String) throws -> [Node] {
        guard let node else { return [] }
        guard let sequence = node.sequence else { throw fail(node, path, "expected a list") }
        return Array(sequence)
    }

    mutating func schedule(_ node: Node, _ path: String) throws -> ScheduledBackup {
        note(node, path)
        let fields = try mapping(
            node, path,
            allowed: [
                "name", "cron", "namespaces", "excludeNamespaces", "includeResources", "excludeResources", "selector", "includeClusterResources",
                "snapshotVolumes", "defaultVolumesToFsBackup", "ttl", "paused", "retention", "hooks",
            ],
            required: ["name", "cron"])
        let name = try string(fields["name"]!, "\(path).name")
        var template = BackupRequest(name: name)
        template.includedNamespaces = try strings(fields["namespaces"], "\(path).namespaces")
        template.excludedNamespaces = try strings(fields["excludeNamespaces"], "\(path).excludeNamespaces")
        template.includedResources = try strings(fields["includeResources"], "\(path).includeResources")
        template.excludedResources = try strings(fields["excludeResources"], "\(path).excludeResources")
        if let selector = fields["selector"] {
            let text = try string(selector, "\(path).selector")
            template.labelSelector = try checked(selector, "\(path).selector") { try LabelSelector(parsing: text) }
        }
        template.includeClusterResources = try bool(fields["includeClusterResources"], "\(path).includeClusterResources")
        template.volumes.snapshotVolumes = try bool(fields["snapshotVolumes"], "\(path).snapshotVolumes")
        template.volumes.defaultVolumesToFsBackup = try bool(fields["defaultVolumesToFsBackup"], "\(path).defaultVolumesToFsBackup")
        template.ttl = try ttl(fields["ttl"], "\(path).ttl")
        for (index, hookNode) in (try sequence(fields["hooks"], "\(path).hooks")).enumerated() {
            template.hooks.append(try hook(hookNode, "\(path).hooks[\(index)]", defaults: template))
        }
        var retention = RetentionPolicy()
        if let node = fields["retention"] {
            let keep = try mapping(node, "\(path).retention", allowed: ["keepLast", "keepDaily", "keepWeekly", "keepMonthly"])
            retention.keepLast = try int(keep["keepLast"], "\(path).retention.keepLast")
            retention.keepDaily = try int(keep["keepDaily"], "\(path).retention.keepDaily")
            retention.keepWeekly = try int(keep["keepWeekly"], "\(path).retention.keepWeekly")
            retention.keepMonthly = try int(keep["keepMonthly"], "\(path).retention.keepMonthly")
        }
        let schedule = SchedulePolicy(
            name: name, cron: try cron(fields["cron"]!, "\(path).cron"), template: template, paused: try bool(fields["paused"], "\(path).paused") ?? false)
        try checked(node, path) { try schedule.validate() }
        return ScheduledBackup(schedule: schedule, retention: retention)
    }

    /// A backup hook; its namespaces and selector default to the schedule's.
    mutating func hook(_ node: Node, _ path: String, defaults template: BackupRequest) throws -> BackupHook {
        note(node, path)
        let fields = try mapping(node, path, allowed: ["name", "namespaces", "selector", "pre", "post"], required: ["name"])
        var hook = BackupHook(name: try string(fields["name"]!, "\(path).name"))
        hook.includedNamespaces = template.includedNamespaces
        if let namespaces = fields["namespaces"] { hook.includedNamespaces = try strings(namespaces, "\(path).namespaces") }
        if let selector = fields["selector"] {
            let text = try string(selector, "\(path).selector")
            hook.labelSelector = try checked(selector, "\(path).selector") { try LabelSelector(parsing: text) }
        } else {
            hook.labelSelector = template.labelSelector
        }
        for (phase, key) in [(\BackupHook.pre, "pre"), (\BackupHook.post, "post")] {
            for (index, execNode) in (try sequence(fields[key], "\(path).\(key)")).enumerated() {
                let execPath = "\(path).\(key)[\(index)]"
                let exec = try mapping(execNode, execPath, allowed: ["container", "command", "onError", "timeout"], required: ["command"])
                let command = try strings(exec["command"], "\(execPath).command")
                var onError: BackupHook.OnError?
                if let value = exec["onError"] {
                    let text = try string(value, "\(execPath).onError")
                    guard let parsed = BackupHook.OnError(rawValue: text) else {
                        throw fail(value, "\(execPath).onError", "'\(text)' is not Fail or Continue")
                    }
                    onError = parsed
                }
                hook[keyPath: phase].append(BackupHook.Exec(
                    container: try exec["container"].map { try string($0, "\(execPath).container") }, command: command, onError: onError,
                    timeout: try exec["timeout"].map { try duration($0, "\(execPath).timeout") }))
            }
        }
        try checked(node, path) { try hook.validate() }
        return hook
    }
}
