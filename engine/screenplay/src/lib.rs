//! previz-screenplay
