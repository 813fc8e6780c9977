// SigV4 against the worked examples in Amazon S3's documentation ("Signature Calculations for
// the Authorization Header: Transferring Payload in a Single Chunk"). The key pair is AWS's
// published example, not a credential.
import CarbonRecovery
@testable import CarbonRecoveryMinIO
import Crypto
import Foundation
import Testing

@Suite("SigV4 signing")
struct SigV4Tests {
    let credentials = S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    let date = Date(timeIntervalSince1970: 1_369_353_600)   // 2013-05-24T00:00:00Z

    func signature(_ method: String, _ path: String, query: [(String, String)] = [], headers: [(String, String)], payload: [UInt8] = []) throws -> String {
        var headers = headers
        let hash = SigV4Signer.hex(SHA256.hash(data: payload))
        try SigV4Signer(region: "us-east-1").sign(method: method, encodedPath: path, query: query, headers: &headers, payloadHash: hash, credentials: credentials, date: date)
        let authorization = headers.first { $0.0 == "authorization" }!.1
        return String(authorization.split(separator: "Signature=")[1])
    }

    @Test("a header value with a line break or another control character is refused, not signed as something else than is sent",
          arguments: ["value1\n  value2\n     value3", "a\r\nx-amz-acl: public-read", "bell\u{07}", "del\u{7F}"])
    func multilineHeaderRefused(value: String) throws {
        let error = #expect(throws: RecoveryError.self) {
            try signature("GET", "/test.txt", headers: [("host", "examplebucket.s3.amazonaws.com"), ("my-header1", value)])
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains("my-header1") == true)
        // A tab is an ordinary header character, folded like a space.
        #expect(try signature("GET", "/test.txt", headers: [("host", "examplebucket.s3.amazonaws.com"), ("range", "bytes=0-9")])
            == (try signature("GET", "/test.txt", headers: [("host", "examplebucket.s3.amazonaws.com"), ("range", "bytes=0-9\t")])))
    }

    @Test("GET Object with a Range header")
    func getObject() throws {
        #expect(try signature("GET", "/test.txt", headers: [("host", "examplebucket.s3.amazonaws.com"), ("range", "bytes=0-9")])
            == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test("PUT Object with a payload, a Date and a storage class; '$' in the key is encoded")
    func putObject() throws {
        #expect(try signature("PUT", "/" + S3URI.encode("test$file.text", encodeSlash: false), headers: [
            ("host", "examplebucket.s3.amazonaws.com"), ("date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ], payload: Array("Welcome to Amazon S3.".utf8)) == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test("GET Bucket (list) with query parameters sorted and encoded")
    func listObjects() throws {
        #expect(try signature("GET", "/", query: [("prefix", "J"), ("max-keys", "2")], headers: [("host", "examplebucket.s3.amazonaws.com")])
            == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test("URI encoding: unreserved characters stay, everything else is %XX of UTF-8")
    func encoding() {
        #expect(S3URI.encode("a b+c/d~e_f.g-h", encodeSlash: false) == "a%20b%2Bc/d~e_f.g-h")
        #expect(S3URI.encode("a/b=c&d", encodeSlash: true) == "a%2Fb%3Dc%26d")
        #expect(S3URI.encode("ü😀", encodeSlash: true) == "%C3%BC%F0%9F%98%80")
    }

    @Test("the credentials' description hides the secret")
    func description() {
        #expect(!"\(credentials)".contains(credentials.secretAccessKey))
        #expect(!String(reflecting: credentials).contains(credentials.secretAccessKey))
    }

    @Test("S3 XML: entities, CDATA, nesting; malformed input is refused")
    func xml() throws {
        let root = try S3XMLElement.parse(Array(#"<?xml version="1.0"?><R a="x>y"><K>a &amp; b &#x263A; &lt;c&gt;</K><!-- c --><L><![CDATA[<raw>]]></L><E/></R>"#.utf8))
        #expect(root["K"] == "a & b ☺ <c>")
        #expect(root["L"] == "<raw>")
        #expect(root.child("E") != nil)
        for bad in ["<R><K></R>", "<R>", "<R>&bogus;</R>", "", "<R></R><S/>"] {
            #expect(throws: (any Error).self) { try S3XMLElement.parse(Array(bad.utf8)) }
        }
    }
}
