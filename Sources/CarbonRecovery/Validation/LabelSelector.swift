/// A Kubernetes label selector, in the syntax `kubectl -l` and Velero's `--selector` accept.
///
/// ```swift
/// let selector = try LabelSelector(parsing: "app=postgresql, tier in (db,cache), !canary")
/// selector.matches(["app": "postgresql", "tier": "db"])   // true
/// print(selector)                                        // app=postgresql,tier in (cache,db),!canary
/// ```
public struct LabelSelector: Sendable, Hashable, CustomStringConvertible {
    /// How a requirement compares a label.
    public enum Operator: String, Sendable, Hashable {
        /// `key=value` or `key==value`: the label has that value.
        case equals
        /// `key!=value`: the label is absent or has another value.
        case notEquals
        /// `key in (a,b)`: the label has one of the values.
        case `in`
        /// `key notin (a,b)`: the label is absent or has none of the values.
        case notIn
        /// `key`: the label is present.
        case exists
        /// `!key`: the label is absent.
        case doesNotExist
    }

    /// One requirement: a key, an operator and its values.
    public struct Requirement: Sendable, Hashable {
        /// The label key, with its optional `prefix/`.
        public var key: String
        /// How the label is compared.
        public var op: Operator
        /// The values compared with (one for `=`/`!=`, sorted for `in`/`notin`, none otherwise).
        public var values: [String]

        /// Creates a requirement (not checked: parse user input with ``LabelSelector/init(parsing:)``).
        public init(key: String, op: Operator, values: [String] = []) {
            self.key = key
            self.op = op
            self.values = values
        }

        /// Whether a set of labels satisfies this requirement (Kubernetes semantics: `!=` and
        /// `notin` match when the key is absent).
        public func matches(_ labels: [String: String]) -> Bool {
            let value = labels[key]
            switch op {
            case .equals: return value == values.first
            case .notEquals: return value != values.first
            case .in: return value.map(values.contains) ?? false
            case .notIn: return value.map { !values.contains($0) } ?? true
            case .exists: return value != nil
            case .doesNotExist: return value == nil
            }
        }
    }

    /// One `matchExpressions` item of the Kubernetes JSON form.
    public struct Expression: Sendable, Hashable {
        /// The label key.
        public var key: String
        /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
        public var `operator`: String
        /// The values (sorted; empty for `Exists` and `DoesNotExist`).
        public var values: [String]

        /// Creates an expression.
        public init(key: String, operator: String, values: [String]) {
            self.key = key
            self.operator = `operator`
            self.values = values
        }
    }

    /// The requirements, all of which must hold.
    public var requirements: [Requirement]

    /// A selector of the given requirements (not checked: use ``init(parsing:)`` for user input).
    public init(requirements: [Requirement]) { self.requirements = requirements }

    /// A selector that requires each label to have exactly the given value.
    ///
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput`` for a bad key or value.
    public init(matchLabels: [String: String]) throws {
        for (key, value) in matchLabels {
            try Self.validateKey(key, in: "\(key)=\(value)")
            try Self.validateValue(value, key: key, in: "\(key)=\(value)")
        }
        requirements = matchLabels.keys.sorted().map { Requirement(key: $0, op: .equals, values: [matchLabels[$0]!]) }
    }

    /// Parses selector syntax: comma-separated `key=value`, `key==value`, `key!=value`,
    /// `key in (a,b)`, `key notin (a,b)`, `key` and `!key`.
    ///
    /// - Parameter text: The selector.
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput`` naming the bad token.
    public init(parsing text: String) throws {
        var parser = Parser(text: text)
        requirements = try parser.parse()
    }

    /// Whether no requirement is given (it matches everything).
    public var isEmpty: Bool { requirements.isEmpty }

    /// Whether a set of labels satisfies every requirement.
    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { $0.matches(labels) }
    }

    /// The canonical text: parses back to an equal selector.
    public var description: String {
        requirements.map { requirement in
            switch requirement.op {
            case .equals: "\(requirement.key)=\(requirement.values.first ?? "")"
            case .notEquals: "\(requirement.key)!=\(requirement.values.first ?? "")"
            case .in: "\(requirement.key) in (\(requirement.values.sorted().joined(separator: ",")))"
            case .notIn: "\(requirement.key) notin (\(requirement.values.sorted().joined(separator: ",")))"
            case .exists: requirement.key
            case .doesNotExist: "!\(requirement.key)"
            }
        }.joined(separator: ",")
    }

    /// The `matchLabels` of the Kubernetes JSON form: the equality requirements.
    public var matchLabels: [String: String] {
        var labels: [String: String] = [:]
        for requirement in requirements where requirement.op == .equals {
            labels[requirement.key] = requirement.values.first ?? ""
        }
        return labels
    }

    /// The `matchExpressions` of the Kubernetes JSON form: every other requirement
    /// (`!=` becomes `NotIn` with one value).
    public var matchExpressions: [Expression] {
        requirements.compactMap { requirement in
            switch requirement.op {
            case .equals: nil
            case .notEquals: Expression(key: requirement.key, operator: "NotIn", values: requirement.values)
            case .in: Expression(key: requirement.key, operator: "In", values: requirement.values.sorted())
            case .notIn: Expression(key: requirement.key, operator: "NotIn", values: requirement.values.sorted())
            case .exists: Expression(key: requirement.key, operator: "Exists", values: [])
            case .doesNotExist: Expression(key: requirement.key, operator: "DoesNotExist", values: [])
            }
        }
    }

    // MARK: - Validation of keys and values

    static func validateKey(_ key: String, in selector: String) throws {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        let name: Substring
        switch parts.count {
        case 1: name = parts[0]
        case 2:
            guard KubernetesName.isSubdomain(String(parts[0])) else {
                throw invalid(selector, "the prefix '\(parts[0])' of key '\(key)' is not a DNS-1123 subdomain")
            }
            name = parts[1]
        default: throw invalid(selector, "key '\(key)' has more than one '/'")
        }
        guard !name.isEmpty, name.count <= 63, isQualifiedName(name) else {
            throw invalid(selector, "key '\(key)' must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, after an optional 'prefix/'")
        }
    }

    static func validateValue(_ value: String, key: String, in selector: String) throws {
        guard value.isEmpty || (value.count <= 63 && isQualifiedName(Substring(value))) else {
            throw invalid(selector, "value '\(value)' of '\(key)' must be empty or 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
        }
    }

    private static func isQualifiedName(_ name: Substring) -> Bool {
        func isAlphanumeric(_ character: Character) -> Bool { character.isASCII && (character.isLetter || character.isNumber) }
        guard let first = name.first, let last = name.last, isAlphanumeric(first), isAlphanumeric(last) else { return false }
        return name.allSatisfy { isAlphanumeric($0) || $0 == "-" || $0 == "_" || $0 == "." }
    }

    static func invalid(_ selector: String, _ reason: String) -> RecoveryError {
        RecoveryError.invalidInput("label selector '\(KubernetesName.printable(selector))' is invalid: \(reason)")
    }

    // MARK: - Parser

    private struct Parser {
        enum Token: Equatable {
            case identifier(String)
            case not, equals, doubleEquals, notEquals, open, close, comma, end
        }

        let text: String
        var tokens: [Token] = []
        var position = 0

        init(text: String) { self.text = text }

        mutating func parse() throws -> [Requirement] {
            tokens = try tokenize()
            var requirements: [Requirement] = []
            if tokens == [.end] { return [] }
            while true {
                requirements.append(try requirement())
                switch next() {
                case .comma: continue
                case .end: return requirements
                case let token: throw invalid(text, "expected ',' or the end after a requirement, found \(describe(token))")
                }
            }
        }

        private mutating func requirement() throws -> Requirement {
            if peek() == .not {
                _ = next()
                let key = try identifier(after: "'!'")
                try validateKey(key, in: text)
                return Requirement(key: key, op: .doesNotExist)
            }
            let key = try identifier(after: nil)
            try validateKey(key, in: text)
            switch peek() {
            case .comma, .end:
                return Requirement(key: key, op: .exists)
            case .equals, .doubleEquals, .notEquals:
                let op: Operator = next() == .notEquals ? .notEquals : .equals
                var value = ""
                if case .identifier(let text) = peek() {
                    value = text
                    _ = next()
                }
                try validateValue(value, key: key, in: text)
                return Requirement(key: key, op: op, values: [value])
            case .identifier(let word) where word == "in" || word == "notin":
                _ = next()
                guard next() == .open else { throw invalid(text, "missing '(' after '\(word)' of '\(key)'") }
                var values: [String] = []
                while true {
                    switch next() {
                    case .identifier(let value):
                        try validateValue(value, key: key, in: text)
                        values.append(value)
                    case let token:
                        throw invalid(text, "expected a value of '\(key)', found \(describe(token))")
                    }
                    switch next() {
                    case .comma: continue
                    case .close:
                        return Requirement(key: key, op: word == "in" ? .in : .notIn, values: Array(Set(values)).sorted())
                    case .end: throw invalid(text, "missing ')' after values of '\(key)'")
                    case let token: throw invalid(text, "expected ',' or ')' in the values of '\(key)', found \(describe(token))")
                    }
                }
            case let token:
                throw invalid(text, "expected an operator (=, ==, !=, in, notin) after '\(key)', found \(describe(token))")
            }
        }

        private mutating func identifier(after: String?) throws -> String {
            let token = next()
            guard case .identifier(let name) = token else {
                throw invalid(text, "expected a label key\(after.map { " after \($0)" } ?? ""), found \(describe(token))")
            }
            return name
        }

        private func peek() -> Token { position < tokens.count ? tokens[position] : .end }

        private mutating func next() -> Token {
            defer { position += 1 }
            return peek()
        }

        private func describe(_ token: Token) -> String {
            switch token {
            case .identifier(let name): "'\(name)'"
            case .not: "'!'"
            case .equals: "'='"
            case .doubleEquals: "'=='"
            case .notEquals: "'!='"
            case .open: "'('"
            case .close: "')'"
            case .comma: "','"
            case .end: "the end"
            }
        }

        private func tokenize() throws -> [Token] {
            var result: [Token] = []
            let characters = Array(text)
            var index = 0
            while index < characters.count {
                let character = characters[index]
                switch character {
                case " ", "\t", "\n", "\r":
                    index += 1
                case ",":
                    result.append(.comma)
                    index += 1
                case "(":
                    result.append(.open)
                    index += 1
                case ")":
                    result.append(.close)
                    index += 1
                case "!":
                    if index + 1 < characters.count, characters[index + 1] == "=" {
                        result.append(.notEquals)
                        index += 2
                    } else {
                        result.append(.not)
                        index += 1
                    }
                case "=":
                    if index + 1 < characters.count, characters[index + 1] == "=" {
                        result.append(.doubleEquals)
                        index += 2
                    } else {
                        result.append(.equals)
                        index += 1
                    }
                default:
                    var word = ""
                    while index < characters.count, !" \t\n\r,()!=".contains(characters[index]) {
                        word.append(characters[index])
                        index += 1
                    }
                    result.append(.identifier(word))
                }
            }
            result.append(.end)
            return result
        }
    }
}
