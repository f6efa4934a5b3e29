//! The PlaceOrder saga: reserve a kitchen ticket, charge the payment, assign a courier, confirm
//! the order; a failure undoes the done steps in reverse.

use mspack_saga::{SagaDefinition, Step};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Line, Scenario};
use crate::topology::{Service, Topology};

/// The saga type.
pub const PLACE_ORDER: &str = "place-order";

/// The saga's input: what every participant needs to know about the order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderData {
    /// The order (and the saga: they share the id).
    pub order_id: Uuid,
    /// What to cook.
    pub lines: Vec<Line>,
    /// What to charge.
    pub total_cents: u64,
    /// The planned failure, if any.
    pub scenario: Scenario,
}

/// The definition, with subjects and timeouts of `topology`.
pub fn place_order(topology: &Topology) -> SagaDefinition {
    let cmd = |service: Service, name: &str| topology.subject(service, "cmd", name);
    let timeout = topology.step_timeout;
    SagaDefinition::new(PLACE_ORDER)
        .step(
            Step::new("reserve-kitchen", cmd(Service::Kitchen, "reserve"))
                .compensate_with(cmd(Service::Kitchen, "release"))
                .timeout(timeout)
                .max_attempts(6),
        )
        .step(
            Step::new("charge-payment", cmd(Service::Payments, "charge"))
                .compensate_with(cmd(Service::Payments, "refund"))
                .timeout(timeout)
                .max_attempts(6),
        )
        .step(
            Step::new("assign-courier", cmd(Service::Delivery, "assign"))
                .compensate_with(cmd(Service::Delivery, "unassign"))
                .timeout(timeout)
                .max_attempts(6),
        )
        // The pivot: once confirmed the order goes through (a cancellation asked for before
        // this step makes it fail, and everything before is undone).
        .step(
            Step::new("confirm-order", cmd(Service::Orders, "confirm"))
                .timeout(timeout)
                .max_attempts(6),
        )
}
