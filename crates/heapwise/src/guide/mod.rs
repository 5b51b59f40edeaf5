//! The manual: one chapter per topic, beyond the crate overview.

pub mod tour {
    #![doc = include_str!("tour.md")]
    // The chapter's links name the crate's items as the crate root does.
    #[allow(unused_imports)]
    use crate::*;
}

pub mod counting {
    #![doc = include_str!("counting.md")]
    // The chapter's links name the crate's items as the crate root does.
    #[allow(unused_imports)]
    use crate::*;
}

pub mod limits {
    #![doc = include_str!("limits.md")]
    // The chapter's links name the crate's items as the crate root does.
    #[allow(unused_imports)]
    use crate::*;
}

pub mod profiles {
    #![doc = include_str!("profiles.md")]
    // The chapter's links name the crate's items as the crate root does.
    #[allow(unused_imports)]
    use crate::*;
}

pub mod events {
    #![doc = include_str!("events.md")]
    // The chapter's links name the crate's items as the crate root does.
    #[allow(unused_imports)]
    use crate::*;
}

pub mod guarantees {
    #![doc = include_str!("guarantees.md")]
    // The chapter's links name the crate's items as the crate root does.
    #[allow(unused_imports)]
    use crate::*;
}
