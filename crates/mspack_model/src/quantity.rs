//! Kubernetes resource quantities (`100m`, `0.5`, `1Gi`, `500M`, `1e3`, `1.5Ki`), parsed as
//! `resource.Quantity` reads them and compared exactly (`1000m` equals `1`, `1Gi` is more than
//! `1G`).

use std::cmp::Ordering;

/// A quantity as an exact decimal: `mantissa × 10^exp10`. Binary suffixes are multiplied into
/// the mantissa, so every quantity Kubernetes accepts with at most 38 significant digits is exact.
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    mantissa: i128,
    exp10: i32,
}

impl Quantity {
    /// Parse `<sign><digits>[.<digits>]<suffix>`, the suffix one of `Ki Mi Gi Ti Pi Ei`,
    /// `n u m k M G T P E` or an exponent `e<int>`/`E<int>`. Anything else, surrounding spaces
    /// included, is `None`.
    pub fn parse(text: &str) -> Option<Quantity> {
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let number_len = rest
            .bytes()
            .position(|b| !(b.is_ascii_digit() || b == b'.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_len);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in whole.bytes().chain(fraction.bytes()) {
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(i128::from(b - b'0'))?;
        }
        let mut exp10 = -i32::try_from(fraction.len()).ok()?;
        let binary = |power: u32| -> Option<i128> { 1i128.checked_shl(power) };
        match suffix {
            "" => {}
            "Ki" => mantissa = mantissa.checked_mul(binary(10)?)?,
            "Mi" => mantissa = mantissa.checked_mul(binary(20)?)?,
            "Gi" => mantissa = mantissa.checked_mul(binary(30)?)?,
            "Ti" => mantissa = mantissa.checked_mul(binary(40)?)?,
            "Pi" => mantissa = mantissa.checked_mul(binary(50)?)?,
            "Ei" => mantissa = mantissa.checked_mul(binary(60)?)?,
            "n" => exp10 -= 9,
            "u" => exp10 -= 6,
            "m" => exp10 -= 3,
            "k" => exp10 += 3,
            "M" => exp10 += 6,
            "G" => exp10 += 9,
            "T" => exp10 += 12,
            "P" => exp10 += 15,
            "E" => exp10 += 18,
            exponent if exponent.starts_with(['e', 'E']) => {
                let digits = &exponent[1..];
                let unsigned = digits.strip_prefix(['+', '-']).unwrap_or(digits);
                if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let e: i32 = digits.parse().ok()?;
                exp10 = exp10.checked_add(e)?;
            }
            _ => return None,
        }
        if negative {
            mantissa = -mantissa;
        }
        Some(Quantity { mantissa, exp10 }.normalised())
    }

    /// Trailing zeros moved into the exponent, so equal values compare by their parts.
    fn normalised(mut self) -> Quantity {
        if self.mantissa == 0 {
            return Quantity {
                mantissa: 0,
                exp10: 0,
            };
        }
        while self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.exp10 = self.exp10.saturating_add(1);
        }
        self
    }

    /// The value as a float (for messages and the comparison of values too far apart to align).
    pub fn as_f64(&self) -> f64 {
        // Exponents beyond ±400 are 0 or infinite as floats anyway.
        self.mantissa as f64 * 10f64.powi(self.exp10.clamp(-400, 400))
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Quantity) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Quantity) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Quantity) -> Ordering {
        let sign = self.mantissa.signum().cmp(&other.mantissa.signum());
        if sign != Ordering::Equal || self.mantissa == 0 {
            return sign;
        }
        // Bring both to the smaller exponent; when that overflows, the values are so far apart
        // that their floats order them.
        let (low, high, flipped) = if self.exp10 <= other.exp10 {
            (self, other, false)
        } else {
            (other, self, true)
        };
        let scaled = u32::try_from(i64::from(high.exp10) - i64::from(low.exp10))
            .ok()
            .and_then(|d| 10i128.checked_pow(d))
            .and_then(|f| high.mantissa.checked_mul(f));
        let ordering = match scaled {
            Some(high_aligned) => low.mantissa.cmp(&high_aligned),
            None => low
                .as_f64()
                .partial_cmp(&high.as_f64())
                .unwrap_or(Ordering::Equal),
        };
        if flipped {
            ordering.reverse()
        } else {
            ordering
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Quantity;

    fn q(text: &str) -> Quantity {
        match Quantity::parse(text) {
            Some(q) => q,
            None => panic!("{text:?} should parse"),
        }
    }

    #[test]
    fn parses_the_kubernetes_forms() {
        assert_eq!(q("100m"), q("0.1"));
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("500M"), q("500000000"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1E3"), q("1000"));
        assert_eq!(q("1.5Ki"), q("1536"));
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q(".5"), q("0.5"));
        assert_eq!(q("+2"), q("2"));
        assert_eq!(q("0"), q("0m"));
        assert_eq!(q("1E"), q("1e18"));
    }

    #[test]
    fn orders_exactly() {
        assert!(q("1Gi") > q("1G"));
        assert!(q("2") > q("1500m"));
        assert!(q("128Mi") < q("256Mi"));
        assert!(q("1n") < q("1u"));
        assert!(q("-1") < q("0"));
        assert!(q("1Ei") > q("1n"));
        assert!(q("99999999999999E") > q("1n"));
        assert!(q("1n") < q("99999999999999E"));
    }

    #[test]
    fn invalid_is_none() {
        for text in [
            "",
            "-",
            "m",
            "1.2.3",
            "1Gb",
            "abc",
            " 1",
            "1 ",
            "1e",
            "1e+",
            "1ee3",
            "1Ki5",
            "0x10",
            "1e99999999999",
            "99999999999999999999999999999999999999999",
        ] {
            assert!(Quantity::parse(text).is_none(), "{text:?}");
        }
    }
}
