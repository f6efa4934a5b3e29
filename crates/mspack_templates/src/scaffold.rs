//! `mspack new`: the service scaffold (written below).
