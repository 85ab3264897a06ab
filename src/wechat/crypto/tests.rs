use super::*;

const ZERO_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const APPID_1: &str = "wxba5fad812f8e6fb9";
const CIPHER_1: &str =
    "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==";
const ALPHA_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID_2: &str = "wxb11529c136998cb6";
const CIPHER_2: &str =
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==";

fn crypto(key: &str, appid: &str) -> MessageCrypto {
    MessageCrypto::new(EncodingAesKey::parse(key).unwrap(), appid)
}

/// Encrypts raw, already aligned bytes so that malformed plaintexts can be tested.
fn encrypt_raw(c: &MessageCrypto, plain: &[u8]) -> String {
    let cipher = cbc::Encryptor::<Aes256>::new(&c.key.0.into(), &c.key.iv().into())
        .encrypt_padded_vec::<NoPadding>(plain);
    STANDARD.encode(cipher)
}

/// Builds a plaintext with the given length field, payload and padding byte.
fn frame(len: u32, payload: &[u8], pad: u8, total: usize) -> Vec<u8> {
    let mut plain = vec![b'r'; 16];
    plain.extend_from_slice(&len.to_be_bytes());
    plain.extend_from_slice(payload);
    plain.resize(total, pad);
    plain
}

#[test]
fn vector_one_encrypts_exactly() {
    let c = crypto(ZERO_KEY, APPID_1);
    let out = c.encrypt(r#"{"demo_resp":"good luck"}"#, *b"707722b803182950");
    assert_eq!(out, CIPHER_1);
}

#[test]
fn vector_one_decrypts() {
    let c = crypto(ZERO_KEY, APPID_1);
    assert_eq!(c.decrypt(CIPHER_1).unwrap(), r#"{"demo_resp":"good luck"}"#);
}

#[test]
fn vector_two_encrypts_and_decrypts() {
    let c = crypto(ALPHA_KEY, APPID_2);
    assert_eq!(c.encrypt("我是中文abcd123", *b"aaaabbbbccccdddd"), CIPHER_2);
    assert_eq!(c.decrypt(CIPHER_2).unwrap(), "我是中文abcd123");
}

#[test]
fn key_with_trailing_bits_is_accepted() {
    // 'B' as the last character leaves non-zero trailing bits.
    let key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB";
    assert!(EncodingAesKey::parse(key).is_ok());
}

#[test]
fn key_of_wrong_length_or_alphabet_is_rejected() {
    assert_eq!(
        EncodingAesKey::parse("AAAA").unwrap_err(),
        CryptoError::KeyLength(4)
    );
    let long = "A".repeat(44);
    assert_eq!(
        EncodingAesKey::parse(&long).unwrap_err(),
        CryptoError::KeyLength(44)
    );
    let bad = format!("{}*", "A".repeat(42));
    assert_eq!(
        EncodingAesKey::parse(&bad).unwrap_err(),
        CryptoError::KeyBase64
    );
    let multibyte = format!("{}é", "A".repeat(42));
    assert!(matches!(
        EncodingAesKey::parse(&multibyte),
        Err(CryptoError::KeyLength(_))
    ));
}

#[test]
fn debug_does_not_print_the_key() {
    let c = crypto(ALPHA_KEY, APPID_2);
    let shown = format!("{c:?}");
    assert_eq!(
        shown,
        r#"MessageCrypto { key: EncodingAesKey(<redacted>), appid: "wxb11529c136998cb6" }"#
    );
}

#[test]
fn round_trips_text_and_xml() {
    let c = crypto(ALPHA_KEY, APPID_2);
    for msg in [
        "",
        "a",
        "扫码关注，欢迎！🎉",
        "<xml><Content><![CDATA[你好]]></Content></xml>",
    ] {
        assert_eq!(c.decrypt(&c.encrypt_random(msg)).unwrap(), msg);
    }
}

#[test]
fn aligned_message_gets_a_full_block_of_padding() {
    let c = crypto(ZERO_KEY, APPID_1);
    // 20 header + 26 message + 18 appid = 64 bytes: pad must be a whole 32-byte block.
    let msg = "abcdefghijklmnopqrstuvwxyz";
    let out = c.encrypt(msg, [7; 16]);
    assert_eq!(STANDARD.decode(&out).unwrap().len(), 96);
    assert_eq!(c.decrypt(&out).unwrap(), msg);
}

#[test]
fn random_prefix_changes_the_ciphertext() {
    let c = crypto(ZERO_KEY, APPID_1);
    assert_ne!(c.encrypt_random("same"), c.encrypt_random("same"));
}

#[test]
fn rejects_bad_base64() {
    let c = crypto(ZERO_KEY, APPID_1);
    assert_eq!(c.decrypt("not base64!"), Err(CryptoError::CiphertextBase64));
}

#[test]
fn rejects_empty_and_unaligned_ciphertext() {
    let c = crypto(ZERO_KEY, APPID_1);
    assert_eq!(c.decrypt(""), Err(CryptoError::CiphertextLength(0)));
    let short = STANDARD.encode([0u8; 15]);
    assert_eq!(c.decrypt(&short), Err(CryptoError::CiphertextLength(15)));
}

#[test]
fn rejects_zero_oversized_and_uneven_padding() {
    let c = crypto(ZERO_KEY, APPID_1);
    let payload = [b"hi".as_slice(), APPID_1.as_bytes()].concat();
    let zero = frame(2, &payload, 0, 64);
    assert_eq!(
        c.decrypt(&encrypt_raw(&c, &zero)),
        Err(CryptoError::Padding)
    );
    let big = frame(2, &payload, 33, 96);
    assert_eq!(c.decrypt(&encrypt_raw(&c, &big)), Err(CryptoError::Padding));
    let mut uneven = frame(2, &payload, 24, 64);
    uneven[45] = 23;
    assert_eq!(
        c.decrypt(&encrypt_raw(&c, &uneven)),
        Err(CryptoError::Padding)
    );
}

#[test]
fn rejects_plaintext_shorter_than_header() {
    let c = crypto(ZERO_KEY, APPID_1);
    let mut plain = vec![b'r'; 16];
    plain.resize(32, 16);
    assert_eq!(
        c.decrypt(&encrypt_raw(&c, &plain)),
        Err(CryptoError::TooShort)
    );
}

#[test]
fn rejects_length_field_beyond_plaintext() {
    let c = crypto(ZERO_KEY, APPID_1);
    let plain = frame(1000, b"hi", 26, 64);
    assert_eq!(
        c.decrypt(&encrypt_raw(&c, &plain)),
        Err(CryptoError::LengthField(1000))
    );
}

#[test]
fn rejects_message_that_is_not_utf8() {
    let c = crypto(ZERO_KEY, APPID_1);
    let payload = [[0xff, 0xfe].as_slice(), APPID_1.as_bytes()].concat();
    let plain = frame(2, &payload, 24, 64);
    assert_eq!(
        c.decrypt(&encrypt_raw(&c, &plain)),
        Err(CryptoError::NotUtf8)
    );
}

#[test]
fn rejects_other_appid_without_naming_it() {
    let theirs = crypto(ZERO_KEY, "wx0000000000000000");
    let ours = crypto(ZERO_KEY, APPID_1);
    let err = ours.decrypt(&theirs.encrypt_random("hello")).unwrap_err();
    assert_eq!(err, CryptoError::AppIdMismatch);
    let text = err.to_string();
    assert!(!text.contains("wx0000000000000000") && !text.contains(APPID_1));
}
