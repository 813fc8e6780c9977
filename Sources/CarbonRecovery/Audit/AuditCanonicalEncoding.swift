import Foundation

/// The canonical encoding of an audit entry (see `docs/audit-trail.md`).
///
/// A JSON object with every member of ``AuditField`` present, keys in sorted order, values in
/// ``CanonicalJSON`` form, absent values as `null`. The entry hash is SHA-256 over this encoding
/// without the `hash` member; `prev_hash` of entry 1 is 64 zeros.
package enum AuditCanonicalEncoding {
    /// `prev_hash` of the first entry.
    package static let genesisHash = String(repeating: "0", count: 64)

    /// The members in canonical order.
    package static let fieldsInOrder: [AuditField] = AuditField.allCases

    /// `{"name":` / `,"name":` for each member, by position in ``fieldsInOrder``, with and
    /// without the `hash` member counted (its own slot is empty when it is left out).
    package static let prefixesWithHash: [[UInt8]] = fieldsInOrder.enumerated().map { index, field in
        Array("\(index == 0 ? "{" : ",")\"\(field.rawValue)\":".utf8)
    }
    /// The same prefixes when the `hash` member is left out (its slot is empty).
    package static let prefixesWithoutHash: [[UInt8]] = {
        var seen = 0
        return fieldsInOrder.map { field in
            guard field != .hash else { return [] }
            defer { seen += 1 }
            return Array("\(seen == 0 ? "{" : ",")\"\(field.rawValue)\":".utf8)
        }
    }()

    /// Appends the encoding, asking `value` to append each member's JSON value.
    ///
    /// - Returns: Where the `hash` member starts (its `,"hash":` prefix), or without it where it
    ///   would go: the leaf of the Merkle tree hashes the encoding with the member, the chain
    ///   hash the encoding without it, and the writer splices it in rather than encoding twice.
    @inlinable @discardableResult
    package static func append(
        to bytes: inout [UInt8], includingHash: Bool, value: (AuditField, inout [UInt8]) -> Void
    ) -> Int {
        let prefixes = includingHash ? prefixesWithHash : prefixesWithoutHash
        var hashSlot = bytes.count
        for position in 0..<fieldsInOrder.count {
            let field = fieldsInOrder[position]
            if field == .hash {
                hashSlot = bytes.count
                if !includingHash { continue }
            }
            bytes.append(contentsOf: prefixes[position])
            value(field, &bytes)
        }
        bytes.append(UInt8(ascii: "}"))
        return hashSlot
    }
}
