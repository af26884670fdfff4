"""Pure booking domain: appointment lifecycle and availability arithmetic."""
