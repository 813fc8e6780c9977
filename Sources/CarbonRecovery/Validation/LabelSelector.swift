/// A Kubernetes label selector, in the syntax `kubectl -l` and Velero's `--selector` accept.
///
/// A selector is a comma-separated list of requirements, all of which must hold:
/// `key=value` (or `key==value`), `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key` (the
/// label exists) and `!key` (it does not). Whitespace around tokens is ignored. Keys are an
/// optional DNS-1123 subdomain prefix and `/`, then a name of 1–63 letters, digits, `-`, `_` and
/// `.` that starts and ends with a letter or digit; values are empty or follow the same rule as
/// key names.
///
/// ```swift
/// let selector = try LabelSelector(parsing: "app=postgresql, tier in (db,cache), !canary")
/// selector.matches(["app": "postgresql", "tier": "db"])   // true
/// print(selector)                                        // app=postgresql,tier in (cache,db),!canary
/// selector.matchLabels                                   // ["app": "postgresql"]
/// ```
public struct LabelSelector: Sendable, Hashable, CustomStringConvertible {
    /// How a requirement tests a label.
    public enum Operator: String, Sendable, Hashable {
        /// `key=value` or `key==value`: the label exists and has the value.
        case equals
        /// `key!=value`: the label is absent or has another value.
        case notEquals
        /// `key in (a,b)`: the label exists and has one of the values.
        case `in`
        /// `key notin (a,b)`: the label is absent or has none of the values.
        case notIn
        /// `key`: the label exists, with any value.
        case exists
        /// `!key`: the label does not exist.
        case doesNotExist
    }

    /// One requirement of a selector: a key, an operator and the values it compares with.
    ///
    /// ```swift
    /// let requirement = LabelSelector.Requirement(key: "tier", op: .in, values: ["db", "cache"])
    /// requirement.matches(["tier": "db"])   // true
    /// ```
    public struct Requirement: Sendable, Hashable {
        /// The label key, e.g. `app` or `app.kubernetes.io/name`.
        public var key: String
        /// How the label is tested.
        public var op: Operator
        /// The values: one for `equals` and `notEquals`, at least one for `in` and `notIn`, none otherwise.
        public var values: [String]

        /// Creates a requirement (unchecked: parse user input with ``LabelSelector/init(parsing:)``).
        ///
        /// - Parameters:
        ///   - key: The label key.
        ///   - op: How the label is tested.
        ///   - values: The values the operator compares with.
        public init(key: String, op: Operator, values: [String] = []) {
            self.key = key
            self.op = op
            self.values = values
        }

        /// Whether a set of labels satisfies this requirement.
        ///
        /// As in Kubernetes, `notEquals` and `notIn` also match when the key is absent.
        ///
        /// - Parameter labels: The labels of an object.
        /// - Returns: `true` when the requirement holds.
        public func matches(_ labels: [String: String]) -> Bool {
            let value = labels[key]
            switch op {
            case .equals: return value != nil && value == values.first
            case .notEquals: return value == nil || value != values.first
            case .in: return value.map(values.contains) ?? false
            case .notIn: return value.map { !values.contains($0) } ?? true
            case .exists: return value != nil
            case .doesNotExist: return value == nil
            }
        }

        /// The requirement in selector syntax (`key in (a,b)` lists its values sorted).
        var text: String {
            switch op {
            case .equals: "\(key)=\(values.first ?? "")"
            case .notEquals: "\(key)!=\(values.first ?? "")"
            case .in: "\(key) in (\(values.sorted().joined(separator: ",")))"
            case .notIn: "\(key) notin (\(values.sorted().joined(separator: ",")))"
            case .exists: key
            case .doesNotExist: "!\(key)"
            }
        }
    }

    /// One item of `matchExpressions` in the Kubernetes JSON form of a selector.
    ///
    /// ```swift
    /// LabelSelector.Expression(key: "tier", operator: "In", values: ["cache", "db"])
    /// ```
    public struct Expression: Sendable, Hashable {
        /// The label key.
        public var key: String
        /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
        public var `operator`: String
        /// The values (sorted); empty for `Exists` and `DoesNotExist`.
        public var values: [String]

        /// Creates an expression.
        ///
        /// - Parameters:
        ///   - key: The label key.
        ///   - operator: `In`, `NotIn`, `Exists` or `DoesNotExist`.
        ///   - values: The values; empty for `Exists` and `DoesNotExist`.
        public init(key: String, operator: String, values: [String]) {
            self.key = key
            self.operator = `operator`
            self.values = values
        }
    }

    /// The requirements, all of which must hold, in the order given.
    public var requirements: [Requirement]

    /// Creates a selector of the given requirements.
    ///
    /// The requirements are not checked; use ``init(parsing:)`` or ``init(matchLabels:)`` for
    /// anything that comes from a user.
    ///
    /// ```swift
    /// let selector = LabelSelector(requirements: [.init(key: "app", op: .equals, values: ["pg"])])
    /// ```
    ///
    /// - Parameter requirements: The requirements, all of which must hold.
    public init(requirements: [Requirement]) {
        self.requirements = requirements
    }

    /// Creates a selector that requires each label to have exactly the given value.
    ///
    /// The requirements are ordered by key, so equal dictionaries give equal selectors.
    ///
    /// ```swift
    /// let selector = try LabelSelector(matchLabels: ["tier": "db", "app": "pg"])
    /// print(selector)   // app=pg,tier=db
    /// ```
    ///
    /// - Parameter matchLabels: Label keys and the values they must have.
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput`` naming the first
    ///   bad key or value.
    public init(matchLabels: [String: String]) throws(RecoveryError) {
        let pairs = matchLabels.sorted { $0.key < $1.key }
        let text = pairs.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        let rules = LabelSelectorRules(selector: text)
        requirements = try pairs.map { (pair) throws(RecoveryError) -> Requirement in
            try rules.validateKey(pair.key)
            try rules.validateValue(pair.value, of: pair.key)
            return Requirement(key: pair.key, op: .equals, values: [pair.value])
        }
    }

    /// Parses selector syntax as `kubectl -l` accepts it.
    ///
    /// Requirements are separated by commas: `key=value`, `key==value`, `key!=value`,
    /// `key in (a,b)`, `key notin (a,b)`, `key` and `!key`. Whitespace around tokens is ignored.
    /// `in` and `notin` need at least one value; their values are kept sorted and without
    /// duplicates. An empty text is the empty selector, which matches everything.
    ///
    /// ```swift
    /// let selector = try LabelSelector(parsing: "app.kubernetes.io/name=postgresql,tier notin (cache)")
    /// ```
    ///
    /// - Parameter text: The selector.
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput`` whose message
    ///   quotes the selector and names the offending token, e.g.
    ///   `label selector 'app in (x' is invalid: missing ')' after values of 'app'`.
    public init(parsing text: String) throws(RecoveryError) {
        var parser = LabelSelectorParser(text: text)
        requirements = try parser.parse()
    }

    /// Whether the selector has no requirements (it then matches every object).
    public var isEmpty: Bool { requirements.isEmpty }

    /// Whether a set of labels satisfies every requirement.
    ///
    /// ```swift
    /// try LabelSelector(parsing: "app!=pg").matches([:])   // true: the key is absent
    /// ```
    ///
    /// - Parameter labels: The labels of an object.
    /// - Returns: `true` when all requirements hold.
    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { $0.matches(labels) }
    }

    /// The canonical selector text, which parses back to an equal selector.
    ///
    /// Requirements keep their order and are joined by `,` without spaces: `key=value`,
    /// `key!=value`, `key in (a,b)` and `key notin (a,b)` with sorted values, `key`, `!key`.
    public var description: String {
        requirements.map(\.text).joined(separator: ",")
    }

    /// The `matchLabels` of the Kubernetes JSON form: the `equals` requirements.
    ///
    /// Together with ``matchExpressions`` this is how a Velero `Backup` or `Restore` carries the
    /// selector (`spec.labelSelector`).
    public var matchLabels: [String: String] {
        var labels: [String: String] = [:]
        for requirement in requirements where requirement.op == .equals {
            labels[requirement.key] = requirement.values.first ?? ""
        }
        return labels
    }

    /// The `matchExpressions` of the Kubernetes JSON form: every requirement but `equals`, in order.
    ///
    /// `key!=value` becomes `NotIn` with that one value; `In` and `NotIn` values are sorted.
    public var matchExpressions: [Expression] {
        requirements.compactMap { requirement in
            switch requirement.op {
            case .equals: nil
            case .notEquals: Expression(key: requirement.key, operator: "NotIn", values: Array(requirement.values.prefix(1)))
            case .in: Expression(key: requirement.key, operator: "In", values: requirement.values.sorted())
            case .notIn: Expression(key: requirement.key, operator: "NotIn", values: requirement.values.sorted())
            case .exists: Expression(key: requirement.key, operator: "Exists", values: [])
            case .doesNotExist: Expression(key: requirement.key, operator: "DoesNotExist", values: [])
            }
        }
    }
}

// MARK: - Key and value rules

/// The Kubernetes rules for label keys and values, with messages about one selector.
private struct LabelSelectorRules {
    static let maximumNameLength = 63

    /// The selector text the messages quote.
    let selector: String

    func invalid(_ reason: String) -> RecoveryError {
        RecoveryError.invalidInput(
            "label selector '\(KubernetesName.printable(selector))' is invalid: \(reason)",
            target: KubernetesName.printable(selector))
    }

    /// A key: an optional DNS-1123 subdomain prefix and `/`, then a qualified name.
    func validateKey(_ key: String) throws(RecoveryError) {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw invalid("key '\(quoted(key))' has more than one '/'") }
        if parts.count == 2, !KubernetesName.isSubdomain(String(parts[0])) {
            throw invalid(
                "the prefix '\(quoted(parts[0]))' of key '\(quoted(key))' is not a DNS-1123 subdomain "
                    + "(lowercase letters, digits, '-' and '.', at most 253 characters)")
        }
        guard let name = parts.last, Self.isQualifiedName(name) else {
            throw invalid(
                "key '\(quoted(key))' must be 1 to 63 letters, digits, '-', '_' or '.', "
                    + "starting and ending with a letter or digit, after an optional 'prefix/'")
        }
    }

    /// A value: empty, or a qualified name.
    func validateValue(_ value: String, of key: String) throws(RecoveryError) {
        guard value.isEmpty || Self.isQualifiedName(value[...]) else {
            throw invalid(
                "value '\(quoted(value))' of '\(quoted(key))' must be empty or 1 to 63 letters, digits, '-', '_' or '.', "
                    + "starting and ending with a letter or digit")
        }
    }

    private func quoted(_ text: some StringProtocol) -> String {
        KubernetesName.printable(String(text))
    }

    /// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, 1 to 63 characters.
    private static func isQualifiedName(_ name: Substring) -> Bool {
        let bytes = name.utf8
        guard bytes.count <= maximumNameLength, let first = bytes.first, let last = bytes.last,
            isAlphanumeric(first), isAlphanumeric(last)
        else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

// MARK: - Parser

/// A recursive-descent parser for selector syntax, tokenized like Kubernetes' own lexer.
private struct LabelSelectorParser {
    private enum Token: Equatable {
        case word(String)
        case not, equals, doubleEquals, notEquals, open, close, comma
        case unsupported(String)
        case end

        var quoted: String {
            switch self {
            case .word(let word): "'\(KubernetesName.printable(word))'"
            case .not: "'!'"
            case .equals: "'='"
            case .doubleEquals: "'=='"
            case .notEquals: "'!='"
            case .open: "'('"
            case .close: "')'"
            case .comma: "','"
            case .unsupported(let symbol): "'\(symbol)'"
            case .end: "the end"
            }
        }
    }

    private let rules: LabelSelectorRules
    private let tokens: [Token]
    private var position = 0

    init(text: String) {
        self.rules = LabelSelectorRules(selector: text)
        self.tokens = Self.tokenize(text)
    }

    mutating func parse() throws(RecoveryError) -> [LabelSelector.Requirement] {
        guard peek() != .end else { return [] }
        var requirements: [LabelSelector.Requirement] = []
        while true {
            requirements.append(try requirement())
            switch next() {
            case .comma: continue
            case .end: return requirements
            case let token: throw rules.invalid("expected ',' or the end after '\(requirements.last?.text ?? "")', found \(token.quoted)")
            }
        }
    }

    private mutating func requirement() throws(RecoveryError) -> LabelSelector.Requirement {
        if peek() == .not {
            _ = next()
            let key = try key(after: "'!'")
            return LabelSelector.Requirement(key: key, op: .doesNotExist)
        }
        let key = try key(after: nil)
        switch peek() {
        case .comma, .end:
            return LabelSelector.Requirement(key: key, op: .exists)
        case .equals, .doubleEquals, .notEquals:
            return try exactValue(of: key)
        case .word("in"), .word("notin"):
            return try valueSet(of: key)
        case let token:
            throw rules.invalid("expected an operator (=, ==, !=, in, notin), ',' or the end after '\(key)', found \(token.quoted)")
        }
    }

    private mutating func key(after context: String?) throws(RecoveryError) -> String {
        let token = next()
        guard case .word(let key) = token else {
            throw rules.invalid("expected a label key\(context.map { " after \($0)" } ?? ""), found \(token.quoted)")
        }
        try rules.validateKey(key)
        return key
    }

    /// `=value`, `==value` or `!=value`; the value may be empty.
    private mutating func exactValue(of key: String) throws(RecoveryError) -> LabelSelector.Requirement {
        let op: LabelSelector.Operator = next() == .notEquals ? .notEquals : .equals
        var value = ""
        switch peek() {
        case .word(let word):
            value = word
            _ = next()
        case .comma, .end:
            break
        case let token:
            throw rules.invalid("expected a value for '\(key)', found \(token.quoted)")
        }
        try rules.validateValue(value, of: key)
        return LabelSelector.Requirement(key: key, op: op, values: [value])
    }

    /// `in (a,b)` or `notin (a,b)`, with at least one value.
    private mutating func valueSet(of key: String) throws(RecoveryError) -> LabelSelector.Requirement {
        let op: LabelSelector.Operator = next() == .word("in") ? .in : .notIn
        let word = op == .in ? "in" : "notin"
        guard next() == .open else { throw rules.invalid("missing '(' after '\(word)' of '\(key)'") }
        var values: Set<String> = []
        while true {
            switch next() {
            case .word(let value):
                try rules.validateValue(value, of: key)
                values.insert(value)
            case .close where values.isEmpty:
                throw rules.invalid("'\(key) \(word) ()' needs at least one value")
            case .end:
                throw rules.invalid("missing ')' after values of '\(key)'")
            case let token:
                throw rules.invalid("expected a value of '\(key)', found \(token.quoted)")
            }
            switch next() {
            case .comma: continue
            case .close: return LabelSelector.Requirement(key: key, op: op, values: values.sorted())
            case .end: throw rules.invalid("missing ')' after values of '\(key)'")
            case let token: throw rules.invalid("expected ',' or ')' in the values of '\(key)', found \(token.quoted)")
            }
        }
    }

    private func peek() -> Token {
        position < tokens.count ? tokens[position] : .end
    }

    private mutating func next() -> Token {
        defer { position += 1 }
        return peek()
    }

    // MARK: Lexer

    /// Kubernetes' lexer: whitespace separates, `! != = == ( ) ,` are symbols (and `<`, `>`,
    /// which Velero does not support), and every other run of characters is a word.
    private static func tokenize(_ text: String) -> [Token] {
        var tokens: [Token] = []
        var rest = Substring(text)
        while let character = rest.first {
            if isWhitespace(character) {
                rest = rest.dropFirst()
            } else if let (token, length) = symbol(at: rest) {
                tokens.append(token)
                rest = rest.dropFirst(length)
            } else {
                let word = rest.prefix { !isWhitespace($0) && !symbolCharacters.contains($0) }
                tokens.append(.word(String(word)))
                rest = rest.dropFirst(word.count)
            }
        }
        return tokens
    }

    private static let symbolCharacters: Set<Character> = ["!", "=", "(", ")", ",", "<", ">"]

    private static func isWhitespace(_ character: Character) -> Bool {
        character == " " || character == "\t" || character == "\n" || character == "\r" || character == "\r\n"
    }

    private static func symbol(at text: Substring) -> (Token, Int)? {
        guard let first = text.first, symbolCharacters.contains(first) else { return nil }
        let second = text.dropFirst().first
        switch first {
        case "!": return second == "=" ? (.notEquals, 2) : (.not, 1)
        case "=": return second == "=" ? (.doubleEquals, 2) : (.equals, 1)
        case "(": return (.open, 1)
        case ")": return (.close, 1)
        case ",": return (.comma, 1)
        default: return (.unsupported(String(first)), 1)
        }
    }
}
