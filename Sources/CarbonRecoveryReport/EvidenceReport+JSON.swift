import CarbonRecovery
import Foundation

extension EvidenceReport {
    /// The report's figures as JSON (`format: 1`): the same numbers the page shows, durations in
    /// seconds, times in RFC 3339 UTC. docs/report.md lists every field.
    public var json: JSONValue {
        func time(_ date: Date?) -> JSONValue { date.map { .string(RFC3339.format($0)) } ?? .null }
        func number(_ value: Double?) -> JSONValue { value.map { .double(($0 * 1000).rounded() / 1000) } ?? .null }
        func strings(_ values: [String]) -> JSONValue { .array(values.map(JSONValue.string)) }
        func verdict(_ verdict: Verdict) -> JSONValue {
            ["declared": .string(verdict.declared), "tested": .string(verdict.tested), "observed": .string(verdict.observed), "met": verdict.met.map(JSONValue.bool) ?? .null]
        }
        func drill(_ drill: Drill) -> JSONValue {
            [
                "level": .string(drill.level), "time": time(drill.time), "target": .string(drill.target), "operation": .string(drill.operation),
                "passed": .bool(drill.passed), "recoverySeconds": number(drill.recoverySeconds), "objectiveSeconds": number(drill.objectiveSeconds),
                "metObjective": drill.metObjective.map(JSONValue.bool) ?? .null, "namespaces": strings(drill.namespaces),
                "database": drill.database.map(JSONValue.string) ?? .null, "problems": strings(drill.problems),
            ]
        }
        func ages(_ points: [AgePoint]) -> JSONValue { .array(points.map { ["time": time($0.time), "seconds": number($0.seconds)] }) }
        let objectives: [JSONValue] = objectives.map { objective in
            [
                "class": .string(objective.namespaceClass), "rpoSeconds": number(objective.rpoSeconds), "rtoSeconds": number(objective.rtoSeconds),
                "verdict": verdict(objective.verdict), "drills": .array(objective.drills.map(drill)),
                "namespaces": .array(objective.namespaces.map { namespace in
                    [
                        "namespace": .string(namespace.namespace), "breaches": .integer(Int64(namespace.breaches)),
                        "breachedSeconds": number(namespace.breachedSeconds), "worstAgeSeconds": number(namespace.worstAgeSeconds),
                        "currentAgeSeconds": number(namespace.currentAgeSeconds), "ages": ages(namespace.ages),
                        "backups": [
                            "succeeded": .integer(Int64(namespace.backups.filter(\.succeeded).count)),
                            "failed": .integer(Int64(namespace.backups.filter { !$0.succeeded }.count)),
                            "runs": .array(namespace.backups.map { ["time": time($0.time), "name": .string($0.name), "succeeded": .bool($0.succeeded), "source": .string($0.source), "error": $0.error.map(JSONValue.string) ?? .null] }),
                        ],
                    ]
                }),
            ]
        }
        let databases: [JSONValue] = databases.map { database in
            [
                "stanza": .string(database.stanza), "rpoSeconds": number(database.rpoSeconds), "rtoSeconds": number(database.rtoSeconds),
                "verdict": verdict(database.verdict),
                "window": [
                    "earliest": time(database.earliest), "latest": time(database.latest), "baseBackups": database.baseBackups.map { .integer(Int64($0)) } ?? .null,
                    "gaps": .array(database.gaps.map { ["first": .string($0.first), "last": .string($0.last), "segments": .integer(Int64($0.segments))] }),
                    "error": database.windowError.map(JSONValue.string) ?? .null,
                ],
                "lag": ages(database.lag), "checks": .integer(Int64(database.checks)), "checksFailed": .integer(Int64(database.checksFailed)),
                "baseBackupsTaken": .integer(Int64(database.baseBackupsTaken)), "baseBackupsFailed": .integer(Int64(database.baseBackupsFailed)),
                "drills": .array(database.drills.map(drill)),
            ]
        }
        return [
            "format": 1, "from": time(from), "to": time(to), "generatedAt": time(generatedAt), "entriesRead": .integer(Int64(entriesRead)),
            "notes": strings(notes), "objectives": .array(objectives), "databases": .array(databases), "drills": .array(drills.map(drill)),
            "lastFullRecovery": lastFullRecovery.map(drill) ?? .null,
            "findings": .array(findings.map {
                ["rule": .string($0.rule), "severity": .string($0.severity.rawValue), "field": .string($0.field), "evidence": .string($0.evidence), "fix": .string($0.fix)]
            }),
            "sections": .array(sections.map { section in
                [
                    "id": .string(section.id), "title": .string(section.title),
                    "verdict": section.verdict.map(verdict) ?? .null, "figures": section.json,
                ]
            }),
            "trail": [
                "path": .string(trail.path), "valid": .bool(trail.valid), "entriesChecked": .integer(trail.entriesChecked),
                "headSequence": .integer(trail.headSequence), "headHash": .string(trail.headHash), "problem": trail.problem.map(JSONValue.string) ?? .null,
                "checkpoint": trail.checkpointNote.map { note in
                    [
                        "origin": trail.checkpointOrigin.map(JSONValue.string) ?? .null, "size": trail.checkpointSize.map(JSONValue.integer) ?? .null,
                        "headHash": trail.checkpointHeadHash.map(JSONValue.string) ?? .null, "note": .string(note),
                    ]
                } ?? .null,
            ],
        ]
    }
}
