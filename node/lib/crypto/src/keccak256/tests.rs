use super::*;

fn hex_of(data: &[u8]) -> String {
    hex::encode(Keccak256::new(data).as_bytes())
}

#[test]
fn protocol_vectors() {
    // protocol.md sections 3.3 and 11.
    assert_eq!(
        hex_of(b""),
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    );
    assert_eq!(
        hex_of(b"testing"),
        "5f16f4c7f149ac4f9510d9cf8cf384038ad348b3bcdc01915f95de12df9d1b02"
    );
    let h = hex_of(&[0x12, 0x34, 0x56]);
    assert!(h.starts_with("6adf0318") && h.ends_with("0ad4"), "{h}");
}

#[test]
fn byte_round_trip_and_length_check() {
    let h = Keccak256::new(b"x");
    assert_eq!(Keccak256::decode(&h.encode()).unwrap(), h);
    assert!(matches!(
        Keccak256::decode(&[0; 31]),
        Err(ByteFmtError::Length { got: 31, .. })
    ));
}
