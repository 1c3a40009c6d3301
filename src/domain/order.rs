//! In what order a hook receives its deliveries (`config.ordering`).

/// `none` (the default): deliveries go side by side, as GitHub sends them. `fifo`: one at
/// a time, in the order their events were committed; a failing head is retried on the
/// hook's schedule while the rest wait, and once its retries are spent the next one goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeliveryOrder {
    #[default]
    Any,
    Fifo,
}

impl DeliveryOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOrder::Any => "none",
            DeliveryOrder::Fifo => "fifo",
        }
    }

    /// # Errors
    /// Why `text` is not an ordering.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "none" => Ok(DeliveryOrder::Any),
            "fifo" => Ok(DeliveryOrder::Fifo),
            other => Err(format!(
                "ordering must be \"none\" or \"fifo\", not {:?}",
                other.chars().take(32).collect::<String>()
            )),
        }
    }

    pub fn is_fifo(self) -> bool {
        self == DeliveryOrder::Fifo
    }
}
