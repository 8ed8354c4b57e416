//! The one padding scheme for everything Conclave pads so that sizes tell
//! the relay nothing (docs/design.md §1, "read who is speaking", "hand out
//! names"): audio frames ([`crate::media`]), MLS application messages (the
//! wasm `Call.send`) and joiners' sealed names ([`crate::admission`]).
//! ISO/IEC 7816-4 padding, `data ‖ 0x80 ‖ 0x00…` up to a multiple of a unit:
//! unambiguous, because the marker is the last non-zero byte, so any data,
//! even data ending in zeros, comes back exactly.

/// `data ‖ 0x80 ‖ 0x00…`, to the smallest multiple of `unit` (≥ 1) that holds
/// the data and the marker.
pub fn pad(data: &[u8], unit: usize) -> Vec<u8> {
    let unit = unit.max(1);
    let size = (data.len() + 1).div_ceil(unit) * unit;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(data);
    out.push(0x80);
    out.resize(size, 0);
    out
}

/// The data inside `padded`, or `None` if it is not a multiple of `unit`
/// long or has no marker after its last data byte.
pub fn unpad(padded: &[u8], unit: usize) -> Option<&[u8]> {
    if padded.len() % unit.max(1) != 0 {
        return None;
    }
    let end = padded.iter().rposition(|b| *b != 0)?;
    (padded[end] == 0x80).then(|| &padded[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_data_comes_back_and_sizes_are_multiples() {
        for data in [&b""[..], b"a", &[0; 95], &[0x80; 96], &[1, 0, 0], &[0; 300]] {
            for unit in [1, 65, 96, 256] {
                let p = pad(data, unit);
                assert_eq!(p.len() % unit, 0);
                assert!(p.len() > data.len());
                assert_eq!(unpad(&p, unit), Some(data));
            }
        }
        assert_eq!(pad(&[1; 95], 96).len(), 96);
        assert_eq!(pad(&[1; 96], 96).len(), 192);
    }

    #[test]
    fn what_is_not_padded_is_refused() {
        assert_eq!(unpad(&[], 96), None);
        assert_eq!(unpad(&[0; 96], 96), None);
        assert_eq!(unpad(&[1; 96], 96), None);
        assert_eq!(unpad(&pad(b"x", 96)[..95], 96), None);
    }
}
