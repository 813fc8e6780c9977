import CarbonRecovery

/// A growable byte buffer written through pointers: the verifier's encoding target, so that
/// encoding an entry costs copies rather than `Array` bookkeeping.
struct ByteBuffer: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    deinit { base.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        let newCapacity = max(capacity * 2, count + extra)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.update(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        reserve(bytes.count)
        if let source = bytes.baseAddress { (base + count).update(from: source, count: bytes.count) }
        count += bytes.count
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { append($0) }
    }

    @inline(__always)
    mutating func appendString(_ utf8: UnsafeBufferPointer<UInt8>) {
        reserve(CanonicalJSON.maximumStringLength(utf8.count))
        count += CanonicalJSON.writeString(utf8, to: base + count)
    }

    /// A string that needs no escaping, between quotes.
    @inline(__always)
    mutating func appendQuoted(_ utf8: UnsafeBufferPointer<UInt8>) {
        reserve(utf8.count + 2)
        (base + count).initialize(to: UInt8(ascii: "\""))
        if let source = utf8.baseAddress { (base + count + 1).update(from: source, count: utf8.count) }
        (base + count + 1 + utf8.count).initialize(to: UInt8(ascii: "\""))
        count += utf8.count + 2
    }

    mutating func appendInteger(_ value: Int64) {
        reserve(CanonicalJSON.maximumIntegerLength)
        count += CanonicalJSON.writeInteger(value, to: base + count)
    }

    mutating func appendNull() {
        reserve(4)
        (base + count).initialize(to: UInt8(ascii: "n"))
        (base + count + 1).initialize(to: UInt8(ascii: "u"))
        (base + count + 2).initialize(to: UInt8(ascii: "l"))
        (base + count + 3).initialize(to: UInt8(ascii: "l"))
        count += 4
    }
}
