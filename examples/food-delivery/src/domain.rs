//! The four aggregates: what each service decides and records. Pure: state + command -> events
//! or a refusal.

use mspack_eventstore::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

/// What an order is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Menu item.
    pub sku: String,
    /// How many.
    pub qty: u32,
}

/// How a test or a chaos run wants an order to go wrong (none: it should be delivered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Nothing planned.
    #[default]
    Normal,
    /// The provider declines the card.
    Decline,
    /// The kitchen refuses the ticket.
    KitchenReject,
    /// The provider answers the first charge attempt too late (it charged, though).
    ProviderTimeout,
}

/// Where an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Not placed yet.
    #[default]
    New,
    /// Placed; the PlaceOrder saga runs.
    Placed,
    /// Paid, cooked and a courier booked: on its way.
    Confirmed,
    /// Delivered (terminal).
    Delivered,
    /// Cancelled and undone (terminal).
    Cancelled,
}

impl OrderStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "new",
            OrderStatus::Placed => "placed",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

/// An order.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Order {
    /// Where it is.
    pub status: OrderStatus,
    /// Who ordered.
    pub customer: String,
    /// What.
    pub lines: Vec<Line>,
    /// How much.
    pub total_cents: u64,
    /// The planned failure, if any.
    pub scenario: Scenario,
    /// The customer asked to cancel; honoured at confirmation.
    pub cancel_requested: bool,
}

/// What an order can be asked to do.
#[derive(Debug, Clone)]
pub enum OrderCommand {
    /// Place it.
    Place {
        /// Who.
        customer: String,
        /// What.
        lines: Vec<Line>,
        /// How much.
        total_cents: u64,
        /// Planned failure.
        scenario: Scenario,
    },
    /// The customer wants it cancelled.
    RequestCancel,
    /// The saga's last step: everything is arranged.
    Confirm,
    /// The courier handed it over.
    MarkDelivered,
    /// The saga undid everything.
    Cancel {
        /// Why.
        reason: String,
    },
}

/// What happened to an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OrderEvent {
    /// Placed.
    OrderPlaced {
        /// Who.
        customer: String,
        /// What.
        lines: Vec<Line>,
        /// How much.
        total_cents: u64,
        /// Planned failure.
        scenario: Scenario,
    },
    /// The customer asked to cancel.
    CancelRequested,
    /// Confirmed.
    OrderConfirmed,
    /// Delivered.
    OrderDelivered,
    /// Cancelled.
    OrderCancelled {
        /// Why.
        reason: String,
    },
}

impl DomainEvent for OrderEvent {
    fn event_type(&self) -> &'static str {
        match self {
            OrderEvent::OrderPlaced { .. } => "OrderPlaced",
            OrderEvent::CancelRequested => "CancelRequested",
            OrderEvent::OrderConfirmed => "OrderConfirmed",
            OrderEvent::OrderDelivered => "OrderDelivered",
            OrderEvent::OrderCancelled { .. } => "OrderCancelled",
        }
    }
}

/// Why an order refuses a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// The order exists already.
    #[error("order already placed")]
    AlreadyPlaced,
    /// No such order.
    #[error("order not found")]
    NotFound,
    /// The order is past the point where this command applies.
    #[error("order is {0}")]
    WrongStatus(&'static str),
    /// The customer cancelled before confirmation.
    #[error("cancelled by the customer")]
    CancelledByCustomer,
    /// An order needs lines and a total.
    #[error("{0}")]
    Invalid(&'static str),
}

impl Aggregate for Order {
    const KIND: &'static str = "order";
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;

    fn handle(&self, command: OrderCommand) -> Result<Vec<OrderEvent>, OrderError> {
        use OrderStatus::{Cancelled, Confirmed, Delivered, New, Placed};
        match (command, self.status) {
            (
                OrderCommand::Place {
                    customer,
                    lines,
                    total_cents,
                    scenario,
                },
                New,
            ) => {
                if lines.is_empty() || lines.iter().any(|l| l.qty == 0) {
                    return Err(OrderError::Invalid("an order needs lines with a quantity"));
                }
                if total_cents == 0 {
                    return Err(OrderError::Invalid("an order costs something"));
                }
                Ok(vec![OrderEvent::OrderPlaced {
                    customer,
                    lines,
                    total_cents,
                    scenario,
                }])
            }
            (OrderCommand::Place { .. }, _) => Err(OrderError::AlreadyPlaced),
            (_, New) => Err(OrderError::NotFound),
            (OrderCommand::RequestCancel, Placed) if self.cancel_requested => Ok(vec![]),
            (OrderCommand::RequestCancel, Placed) => Ok(vec![OrderEvent::CancelRequested]),
            (OrderCommand::Confirm, Placed) if self.cancel_requested => {
                Err(OrderError::CancelledByCustomer)
            }
            (OrderCommand::Confirm, Placed) => Ok(vec![OrderEvent::OrderConfirmed]),
            (OrderCommand::Confirm, Confirmed | Delivered) => Ok(vec![]),
            (OrderCommand::MarkDelivered, Confirmed) => Ok(vec![OrderEvent::OrderDelivered]),
            (OrderCommand::MarkDelivered, Delivered) => Ok(vec![]),
            (OrderCommand::Cancel { reason }, Placed) => {
                Ok(vec![OrderEvent::OrderCancelled { reason }])
            }
            (OrderCommand::Cancel { .. }, Cancelled) => Ok(vec![]),
            (_, status) => Err(OrderError::WrongStatus(status.as_str())),
        }
    }

    fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::OrderPlaced {
                customer,
                lines,
                total_cents,
                scenario,
            } => {
                self.status = OrderStatus::Placed;
                self.customer.clone_from(customer);
                self.lines.clone_from(lines);
                self.total_cents = *total_cents;
                self.scenario = *scenario;
            }
            OrderEvent::CancelRequested => self.cancel_requested = true,
            OrderEvent::OrderConfirmed => self.status = OrderStatus::Confirmed,
            OrderEvent::OrderDelivered => self.status = OrderStatus::Delivered,
            OrderEvent::OrderCancelled { .. } => self.status = OrderStatus::Cancelled,
        }
    }
}

/// A payment for one order.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Payment {
    /// Charges recorded.
    pub charges: u32,
    /// Refunds recorded.
    pub refunds: u32,
    /// The provider's charge id.
    pub charge_id: Option<String>,
}

/// What a payment can be asked to do.
#[derive(Debug, Clone)]
pub enum PaymentCommand {
    /// Record the provider's charge.
    RecordCharge {
        /// The provider's id.
        charge_id: String,
        /// Amount.
        amount_cents: u64,
    },
    /// Record the provider's refund.
    RecordRefund {
        /// The provider's id.
        charge_id: String,
    },
}

/// What happened to a payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PaymentEvent {
    /// Charged.
    PaymentCharged {
        /// The provider's id.
        charge_id: String,
        /// Amount.
        amount_cents: u64,
    },
    /// Refunded.
    PaymentRefunded {
        /// The provider's id.
        charge_id: String,
    },
}

impl DomainEvent for PaymentEvent {
    fn event_type(&self) -> &'static str {
        match self {
            PaymentEvent::PaymentCharged { .. } => "PaymentCharged",
            PaymentEvent::PaymentRefunded { .. } => "PaymentRefunded",
        }
    }
}

/// A payment never refuses: the provider decides, the aggregate records.
#[derive(Debug, thiserror::Error)]
#[error("unreachable")]
pub struct Never;

impl Aggregate for Payment {
    const KIND: &'static str = "payment";
    type Command = PaymentCommand;
    type Event = PaymentEvent;
    type Error = Never;

    fn handle(&self, command: PaymentCommand) -> Result<Vec<PaymentEvent>, Never> {
        Ok(match command {
            // The provider charged once per key: record it once.
            PaymentCommand::RecordCharge { .. } if self.charges > 0 => vec![],
            PaymentCommand::RecordCharge {
                charge_id,
                amount_cents,
            } => vec![PaymentEvent::PaymentCharged {
                charge_id,
                amount_cents,
            }],
            PaymentCommand::RecordRefund { .. } if self.refunds > 0 => vec![],
            // A charge made by an attempt that crashed before recording it: record both, so the
            // books match the provider's.
            PaymentCommand::RecordRefund { charge_id } if self.charges == 0 => vec![
                PaymentEvent::PaymentCharged {
                    charge_id: charge_id.clone(),
                    amount_cents: 0,
                },
                PaymentEvent::PaymentRefunded { charge_id },
            ],
            PaymentCommand::RecordRefund { charge_id } => {
                vec![PaymentEvent::PaymentRefunded { charge_id }]
            }
        })
    }

    fn apply(&mut self, event: &PaymentEvent) {
        match event {
            PaymentEvent::PaymentCharged { charge_id, .. } => {
                self.charges += 1;
                self.charge_id = Some(charge_id.clone());
            }
            PaymentEvent::PaymentRefunded { .. } => self.refunds += 1,
        }
    }
}

/// A kitchen ticket for one order.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Ticket {
    /// Reserved and not released.
    pub live: bool,
    /// Released by a compensation.
    pub released: bool,
    /// Cooked.
    pub prepared: bool,
}

/// What a ticket can be asked to do.
#[derive(Debug, Clone)]
pub enum TicketCommand {
    /// Take the order.
    Reserve {
        /// What to cook.
        lines: Vec<Line>,
    },
    /// Give it back.
    Release,
    /// Cook it.
    Prepare,
}

/// What happened to a ticket. (The names are the events' names on the wire.)
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TicketEvent {
    /// Taken.
    TicketReserved {
        /// What to cook.
        lines: Vec<Line>,
    },
    /// Given back.
    TicketReleased,
    /// Cooked.
    TicketPrepared,
}

impl DomainEvent for TicketEvent {
    fn event_type(&self) -> &'static str {
        match self {
            TicketEvent::TicketReserved { .. } => "TicketReserved",
            TicketEvent::TicketReleased => "TicketReleased",
            TicketEvent::TicketPrepared => "TicketPrepared",
        }
    }
}

impl Aggregate for Ticket {
    const KIND: &'static str = "ticket";
    type Command = TicketCommand;
    type Event = TicketEvent;
    type Error = Never;

    fn handle(&self, command: TicketCommand) -> Result<Vec<TicketEvent>, Never> {
        Ok(match command {
            TicketCommand::Reserve { .. } if self.live || self.released => vec![],
            TicketCommand::Reserve { lines } => vec![TicketEvent::TicketReserved { lines }],
            TicketCommand::Release if self.live && !self.prepared => {
                vec![TicketEvent::TicketReleased]
            }
            TicketCommand::Release => vec![],
            TicketCommand::Prepare if self.live && !self.prepared => {
                vec![TicketEvent::TicketPrepared]
            }
            TicketCommand::Prepare => vec![],
        })
    }

    fn apply(&mut self, event: &TicketEvent) {
        match event {
            TicketEvent::TicketReserved { .. } => self.live = true,
            TicketEvent::TicketReleased => {
                self.live = false;
                self.released = true;
            }
            TicketEvent::TicketPrepared => self.prepared = true,
        }
    }
}

/// A courier assignment for one order.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Assignment {
    /// The courier, while assigned.
    pub courier: Option<String>,
    /// Unassigned by a compensation.
    pub unassigned: bool,
    /// Handed over.
    pub delivered: bool,
}

/// What an assignment can be asked to do.
#[derive(Debug, Clone)]
pub enum AssignmentCommand {
    /// Book a courier.
    Assign {
        /// Who.
        courier: String,
    },
    /// Free the courier.
    Unassign,
    /// Hand the food over.
    Deliver,
}

/// What happened to an assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AssignmentEvent {
    /// Booked.
    CourierAssigned {
        /// Who.
        courier: String,
    },
    /// Freed.
    CourierUnassigned,
    /// Handed over.
    DeliveryCompleted,
}

impl DomainEvent for AssignmentEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AssignmentEvent::CourierAssigned { .. } => "CourierAssigned",
            AssignmentEvent::CourierUnassigned => "CourierUnassigned",
            AssignmentEvent::DeliveryCompleted => "DeliveryCompleted",
        }
    }
}

impl Aggregate for Assignment {
    const KIND: &'static str = "delivery";
    type Command = AssignmentCommand;
    type Event = AssignmentEvent;
    type Error = Never;

    fn handle(&self, command: AssignmentCommand) -> Result<Vec<AssignmentEvent>, Never> {
        Ok(match command {
            AssignmentCommand::Assign { .. } if self.courier.is_some() || self.unassigned => {
                vec![]
            }
            AssignmentCommand::Assign { courier } => {
                vec![AssignmentEvent::CourierAssigned { courier }]
            }
            AssignmentCommand::Unassign if self.courier.is_some() && !self.delivered => {
                vec![AssignmentEvent::CourierUnassigned]
            }
            AssignmentCommand::Unassign => vec![],
            AssignmentCommand::Deliver if self.courier.is_some() && !self.delivered => {
                vec![AssignmentEvent::DeliveryCompleted]
            }
            AssignmentCommand::Deliver => vec![],
        })
    }

    fn apply(&mut self, event: &AssignmentEvent) {
        match event {
            AssignmentEvent::CourierAssigned { courier } => self.courier = Some(courier.clone()),
            AssignmentEvent::CourierUnassigned => {
                self.courier = None;
                self.unassigned = true;
            }
            AssignmentEvent::DeliveryCompleted => self.delivered = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed() -> Order {
        let mut o = Order::default();
        for e in o
            .handle(OrderCommand::Place {
                customer: "ada".into(),
                lines: vec![Line {
                    sku: "pizza".into(),
                    qty: 1,
                }],
                total_cents: 1200,
                scenario: Scenario::Normal,
            })
            .expect("place")
        {
            o.apply(&e);
        }
        o
    }

    #[test]
    fn a_cancel_request_makes_confirmation_fail() {
        let mut o = placed();
        for e in o.handle(OrderCommand::RequestCancel).expect("request") {
            o.apply(&e);
        }
        assert_eq!(
            o.handle(OrderCommand::Confirm).err(),
            Some(OrderError::CancelledByCustomer)
        );
    }

    #[test]
    fn delivered_orders_cannot_be_cancelled() {
        let mut o = placed();
        for c in [OrderCommand::Confirm, OrderCommand::MarkDelivered] {
            for e in o.handle(c).expect("step") {
                o.apply(&e);
            }
        }
        assert!(matches!(
            o.handle(OrderCommand::Cancel {
                reason: "late".into()
            }),
            Err(OrderError::WrongStatus("delivered"))
        ));
        assert!(matches!(
            o.handle(OrderCommand::RequestCancel),
            Err(OrderError::WrongStatus("delivered"))
        ));
    }

    #[test]
    fn a_refund_without_a_recorded_charge_records_both() {
        let p = Payment::default();
        let events = p
            .handle(PaymentCommand::RecordRefund {
                charge_id: "ch".into(),
            })
            .expect("refund");
        assert_eq!(events.len(), 2);
    }
}
