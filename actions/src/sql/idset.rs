//! A set of positive ids as a growable bitmap: 1,000,000 dense ids cost 125 KB, and
//! membership, union and iteration are word operations — not a hash set of strings.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IdSet {
    words: Vec<u64>,
    len: u64,
}

impl IdSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, id: i64) -> bool {
        if id < 0 {
            return false;
        }
        let (w, b) = ((id as u64 / 64) as usize, id as u64 % 64);
        if w >= self.words.len() {
            self.words.resize((w + 1).max(self.words.len() * 2), 0);
        }
        let was = self.words[w] & (1 << b) != 0;
        self.words[w] |= 1 << b;
        if !was {
            self.len += 1;
        }
        !was
    }

    pub fn contains(&self, id: i64) -> bool {
        if id < 0 {
            return false;
        }
        let (w, b) = ((id as u64 / 64) as usize, id as u64 % 64);
        self.words.get(w).is_some_and(|x| x & (1 << b) != 0)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn max(&self) -> Option<i64> {
        let w = self.words.iter().rposition(|x| *x != 0)?;
        Some((w as i64) * 64 + 63 - self.words[w].leading_zeros() as i64)
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut bits = w;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let t = bits.trailing_zeros() as i64;
                bits &= bits - 1;
                Some(i as i64 * 64 + t)
            })
        })
    }

    /// Contiguous runs, for a compact text form.
    pub fn ranges(&self) -> Vec<(i64, i64)> {
        let mut out: Vec<(i64, i64)> = vec![];
        for id in self.iter() {
            match out.last_mut() {
                Some((_, end)) if *end + 1 == id => *end = id,
                _ => out.push((id, id)),
            }
        }
        out
    }

    pub fn memory_bytes(&self) -> usize {
        self.words.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn set_ops_and_ranges() {
        let mut s = IdSet::new();
        for id in [1, 2, 3, 64, 65, 1000] {
            assert!(s.insert(id));
        }
        assert!(!s.insert(3));
        assert_eq!(s.len(), 6);
        assert!(s.contains(64) && !s.contains(4));
        assert_eq!(s.max(), Some(1000));
        assert_eq!(s.ranges(), vec![(1, 3), (64, 65), (1000, 1000)]);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![1, 2, 3, 64, 65, 1000]);
    }
    #[test]
    fn a_million_ids_stay_small() {
        let mut s = IdSet::new();
        for id in 1..=1_000_000 {
            s.insert(id);
        }
        assert!(s.memory_bytes() < 300_000, "{}", s.memory_bytes());
        assert_eq!(s.ranges(), vec![(1, 1_000_000)]);
    }
}
