//! Separation of duties: toxic pairs of entitlements, refused or taken as an
//! exception with its own justification, an extra security step and a shorter limit.

use crate::ctx::Ctx;
use crate::values::{DurationSpec, EntitlementRef, Justification, Name, Refusal};

use super::model::SodException;

/// The shortest exception justification, whatever the policy's minimum.
const MIN_EXCEPTION_JUSTIFICATION: usize = 20;

/// Separation of duties: a request that would give `beneficiary` both entitlements of
/// a toxic rule (live grants and pending requests count) is refused, or, where the
/// rule allows an exception and one is asked for with a reason, goes ahead as an
/// exception (with its own limit on duration; the caller adds the security step).
pub(super) fn separation_of_duties(
    ctx: &Ctx<'_>,
    beneficiary: &Name,
    entitlement: &EntitlementRef,
    asked: Option<&Justification>,
    emergency: bool,
) -> Result<Option<(SodException, DurationSpec)>, Refusal> {
    let mut exceptional = None;
    for rule in &ctx.policy.toxic {
        let Some(other) = rule.partner(entitlement) else {
            continue;
        };
        let Some(held) = ctx.holdings.iter().find(|h| &h.entitlement == other) else {
            continue;
        };
        if !rule.exception || emergency {
            let why = if emergency {
                "break-glass access cannot be an exception"
            } else {
                "with no exception"
            };
            return Err(Refusal::forbidden(
                "separation-of-duties",
                format!(
                    "`{beneficiary}` holds `{other}` ({}); separation-of-duties rule `{}` forbids also holding `{entitlement}`, {why}",
                    held.held_as, rule.name
                ),
            ));
        }
        exceptional.get_or_insert((rule, other, held));
    }
    let Some((rule, other, held)) = exceptional else {
        return match asked {
            Some(_) => Err(Refusal::invalid(
                "no-sod-conflict",
                format!(
                    "`{entitlement}` completes no toxic combination for `{beneficiary}`; submit it without an exception"
                ),
            )),
            None => Ok(None),
        };
    };
    let Some(reason) = asked else {
        return Err(Refusal::forbidden(
            "sod-exception-required",
            format!(
                "`{beneficiary}` holds `{other}` ({}), which with `{entitlement}` is toxic combination `{}`. The rule allows an exception: submit again with an exception justification; the request then needs an extra security step and lasts at most {}",
                held.held_as,
                rule.name,
                rule.exception_max()
            ),
        ));
    };
    let min = ctx
        .policy
        .min_justification
        .max(MIN_EXCEPTION_JUSTIFICATION);
    if reason.chars() < min {
        return Err(Refusal::invalid(
            "exception-justification-too-short",
            format!(
                "an exception justification must be at least {min} characters, got {}",
                reason.chars()
            ),
        ));
    }
    Ok(Some((
        SodException {
            rule: rule.name.clone(),
            conflicts_with: other.clone(),
            held_as: held.held_as.clone(),
            justification: reason.clone(),
        },
        rule.exception_max(),
    )))
}
